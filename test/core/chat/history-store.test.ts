import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { CHAT_MIGRATIONS } from '../../../core/chat/history-migrations.js';
import { ERR_CHAT_STORE_CORRUPT } from '../../../core/chat/errors.js';
import { compareHlc, type Hlc } from '../../../core/chat/hlc.js';
import { HistoryStore, type StoredMessage } from '../../../core/chat/history-store.js';
import { hasCode } from '../../../core/errors.js';
import { openTestDatabase } from './open-db.js';

const KEY = Buffer.alloc(32, 7);
const NET_A = Buffer.alloc(20, 0xaa);
const NET_B = Buffer.alloc(20, 0xbb);

function throwsCode(f: () => unknown, code: string): void {
  let err: unknown;
  try { f(); } catch (e) { err = e; }
  expect(hasCode(err, code), String(err)).to.equal(true);
}

describe('chat/history-store (real SQLite file, WAL)', () => {
  let env: ReturnType<typeof openTestDatabase>;
  let store: HistoryStore;
  let chatId: number;

  beforeEach(() => {
    env = openTestDatabase();
    store = new HistoryStore(env.db, KEY);
    chatId = store.addChat({ networkId: NET_A, kind: 'group', name: 'test group' }).chatId;
  });
  afterEach(() => env.close());

  it('opens in WAL mode with synchronous set explicitly, and persists across reopen', () => {
    expect(env.db.pragma('journal_mode', { simple: true })).to.equal('wal');
    expect(env.db.pragma('synchronous', { simple: true })).to.equal(1); // NORMAL
    const id = randomBytes(16);
    store.addMember(chatId, 'bob@example.com');
    store.addMessage({ chatId, id, sender: 'bob@example.com', outgoing: false, hlc: { wallMs: 5, counter: 0 }, content: 'persisted' });
    env.storage.close();
    env.storage.open();
    env.storage.migrate(CHAT_MIGRATIONS); // already applied: a no-op
    const s2 = new HistoryStore(env.storage.db, KEY);
    const chat = s2.chatByNetworkId(NET_A)!;
    expect(chat.name).to.equal('test group');
    expect(s2.members(chat.chatId)).to.deep.equal(['bob@example.com']);
    expect(s2.message(chat.chatId, id)!.text).to.equal('persisted');
  });

  it('stores a message ID once per chat: a duplicate is reported, not stored', () => {
    const id = randomBytes(16);
    const m = { chatId, id, sender: 'bob@example.com', outgoing: false, hlc: { wallMs: 10, counter: 1 }, content: 'hi' };
    const first = store.addMessage(m);
    const again = store.addMessage({ ...m, content: 'replayed with other text' });
    expect(first.inserted).to.equal(true);
    expect(again.inserted).to.equal(false);
    expect(again.seq).to.equal(first.seq);
    expect(store.message(chatId, id)).to.deep.equal(HistoryStore.asStored(m, first.seq, first.receivedAt));
    expect(env.db.prepare('SELECT count(*) AS n FROM message').get()).to.deep.equal({ n: 1 });
    // the same ID in another chat is another message
    const other = store.addChat({ networkId: NET_B, kind: 'private', name: 'bob@example.com' }).chatId;
    expect(store.addMessage({ ...m, chatId: other }).inserted).to.equal(true);
    expect(store.stats.duplicates).to.equal(1);
  });

  it('encrypts sender and content at rest; a wrong key, a tampered row or a moved row fail authentication', () => {
    const id = randomBytes(16);
    store.addMessage({ chatId, id, sender: 'secret-sender@example.com', outgoing: false, hlc: { wallMs: 1, counter: 0 }, content: 'top secret words' });
    const raw = env.db.prepare('SELECT body FROM message').get() as { body: Buffer };
    expect(raw.body.includes(Buffer.from('top secret'))).to.equal(false);
    expect(raw.body.includes(Buffer.from('secret-sender'))).to.equal(false);
    throwsCode(() => new HistoryStore(env.db, Buffer.alloc(32, 8)).message(chatId, id), ERR_CHAT_STORE_CORRUPT);

    const tampered = Buffer.from(raw.body);
    tampered[20]! ^= 1;
    env.db.prepare('UPDATE message SET body = ?').run(tampered);
    throwsCode(() => store.message(chatId, id), ERR_CHAT_STORE_CORRUPT);

    env.db.prepare('UPDATE message SET body = ?').run(raw.body);
    expect(store.message(chatId, id)!.sender).to.equal('secret-sender@example.com');
    const newId = randomBytes(16);
    env.db.prepare('UPDATE message SET msg_id = ?').run(newId);
    throwsCode(() => store.message(chatId, newId), ERR_CHAT_STORE_CORRUPT);
    expect(store.stats.corruptRows).to.equal(2); // the wrong-key read counted in its own store
  });

  it('pages newest first in HLC order, every message exactly once', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 120; i++) {
      // insertion order differs from clock order
      const hlc: Hlc = { wallMs: 1000 + ((i * 37) % 120), counter: i % 3 };
      const id = randomBytes(16);
      ids.add(id.toString('hex'));
      store.addMessage({ chatId, id, sender: 'a@b', outgoing: false, hlc, content: `m${i}` });
    }
    const seen: StoredMessage[] = [];
    let page = store.page(chatId, { limit: 50 });
    let pages = 1;
    seen.push(...page.messages);
    while (page.next && pages < 10) {
      page = store.page(chatId, { limit: 50, before: page.next });
      seen.push(...page.messages);
      pages++;
    }
    expect(pages).to.equal(3);
    expect(seen.length).to.equal(120);
    expect(new Set(seen.map((m) => m.id.toString('hex')))).to.deep.equal(ids);
    for (let i = 1; i < seen.length; i++) {
      const c = compareHlc(seen[i - 1]!.hlc, seen[i]!.hlc);
      expect(c > 0 || (c === 0 && Buffer.compare(seen[i - 1]!.id, seen[i]!.id) > 0)).to.equal(true);
    }
  });

  it('tracks delivery per recipient; undelivered lists what to re-send, oldest first', () => {
    const ids = [randomBytes(16), randomBytes(16), randomBytes(16)];
    ids.forEach((id, i) =>
      store.addMessage({ chatId, id, sender: 'me@example.com', outgoing: true, hlc: { wallMs: 100 - i, counter: 0 }, content: `out${i}`, recipients: ['bob@x', 'carol@x'] }),
    );
    expect(store.markDelivered(chatId, ids[0]!, 'bob@x')).to.equal(true);
    expect(store.markDelivered(chatId, ids[0]!, 'bob@x')).to.equal(false);
    expect(store.markDelivered(chatId, ids[0]!, 'mallory@x')).to.equal(false); // no row: cannot ack for others
    expect(store.markDelivered(chatId, randomBytes(16), 'bob@x')).to.equal(false);
    expect(store.deliveryOf(chatId, ids[0]!).map((d) => [d.recipient, d.deliveredAt !== null])).to.deep.equal([
      ['bob@x', true],
      ['carol@x', false],
    ]);
    expect(store.undelivered(chatId, 'bob@x').map((m) => m.text)).to.deep.equal(['out2', 'out1']);
    expect(store.undelivered(chatId, 'carol@x').map((m) => m.text)).to.deep.equal(['out2', 'out1', 'out0']);
    expect(store.undelivered(chatId, 'carol@x', 1).map((m) => m.text)).to.deep.equal(['out2']);
    // many acknowledgements in one transaction, each judged on its own
    expect(store.markDeliveredMany(chatId, [
      { id: ids[1]!, recipient: 'bob@x' },
      { id: ids[1]!, recipient: 'bob@x' },
      { id: ids[1]!, recipient: 'mallory@x' },
      { id: ids[2]!, recipient: 'carol@x' },
    ])).to.deep.equal([true, false, false, true]);
    expect(store.undelivered(chatId, 'bob@x').map((m) => m.text)).to.deep.equal(['out2']);
    expect(store.undelivered(chatId, 'carol@x').map((m) => m.text)).to.deep.equal(['out1', 'out0']);
    expect(() => store.markDeliveredMany(chatId, [{ id: Buffer.alloc(3), recipient: 'bob@x' }])).to.throw();
  });

  it('syncs history between two stores by message IDs, without duplicates', () => {
    const other = openTestDatabase();
    try {
      const b = new HistoryStore(other.db, KEY);
      const bChat = b.addChat({ networkId: NET_A, kind: 'group', name: 'test group' }).chatId;
      for (let i = 0; i < 30; i++) {
        const m = { id: randomBytes(16), sender: `s${i % 3}@x`, outgoing: false, hlc: { wallMs: 500 + i, counter: 0 }, content: `t${i}` };
        store.addMessage({ ...m, chatId });
        if (i % 3 !== 0) b.addMessage({ ...m, chatId: bChat });
      }
      let since: Hlc = { wallMs: 0, counter: 0 };
      let rounds = 0;
      let more = true;
      while (more && rounds < 20) {
        rounds++;
        const inv = store.inventorySince(chatId, since, 8);
        const missing = b.missingIds(bChat, inv.entries.map((e) => e.id));
        for (const m of store.byIds(chatId, missing)) {
          expect(b.addMessage({ chatId: bChat, id: m.id, sender: m.sender, outgoing: false, hlc: m.hlc, content: m.content }).inserted).to.equal(true);
        }
        more = inv.more;
        since = inv.entries[inv.entries.length - 1]!.hlc;
      }
      expect(rounds).to.equal(5); // 8 per round, inclusive `since` repeats one entry
      const all = b.page(bChat, { limit: 100 }).messages;
      expect(all.length).to.equal(30);
      expect(all.map((m) => m.text)).to.deep.equal(Array.from({ length: 30 }, (_, i) => `t${29 - i}`));
      expect(b.latestClock(bChat)).to.deep.equal({ wallMs: 529, counter: 0 });
    } finally {
      other.close();
    }
  });

  it('searches text case-insensitively, bounded by scanLimit with a cursor to continue', () => {
    for (let i = 0; i < 300; i++) {
      store.addMessage({ chatId, id: randomBytes(16), sender: 'a@b', outgoing: false, hlc: { wallMs: i, counter: 0 }, content: i % 50 === 0 ? `Hello NEEDLE ${i}` : `filler ${i}` });
    }
    const all = store.search('needle', { limit: 100 });
    expect(all.hits.map((m) => m.text)).to.deep.equal(['Hello NEEDLE 250', 'Hello NEEDLE 200', 'Hello NEEDLE 150', 'Hello NEEDLE 100', 'Hello NEEDLE 50', 'Hello NEEDLE 0']);
    expect(all.next).to.equal(undefined);
    const first = store.search('NeEdLe', { scanLimit: 120 });
    expect(first.scanned).to.equal(120);
    expect(first.hits.map((m) => m.text)).to.deep.equal(['Hello NEEDLE 250', 'Hello NEEDLE 200']);
    expect(first.next).to.be.a('number');
    const rest = store.search('needle', { beforeSeq: first.next! });
    expect(rest.hits.map((m) => m.text)).to.deep.equal(['Hello NEEDLE 150', 'Hello NEEDLE 100', 'Hello NEEDLE 50', 'Hello NEEDLE 0']);
    const other = store.addChat({ networkId: NET_B, kind: 'group', name: 'x' }).chatId;
    expect(store.search('needle', { chatId: other }).hits).to.deep.equal([]);
  });

  it('pins keys on first use and reports a changed key', () => {
    expect(store.pinKey('bob@x', Buffer.alloc(32, 1))).to.equal('new');
    expect(store.pinKey('bob@x', Buffer.alloc(32, 1))).to.equal('same');
    expect(store.pinKey('bob@x', Buffer.alloc(32, 2), Buffer.from('cert'))).to.equal('changed');
    const p = store.pinnedKey('bob@x')!;
    expect(p.fingerprint.equals(Buffer.alloc(32, 2))).to.equal(true);
    expect(p.replacedAt).to.be.a('number');
  });

  it('keeps the newest profile and group image only', () => {
    expect(store.setPeerImage('bob@x', 10, Buffer.from('v10'))).to.equal(true);
    expect(store.setPeerImage('bob@x', 5, Buffer.from('v5'))).to.equal(false);
    expect(store.peerImage('bob@x')!.image.toString()).to.equal('v10');
    expect(store.setGroupImage(chatId, 10, Buffer.from('g10'))).to.equal(true);
    expect(store.setGroupImage(chatId, 10, Buffer.from('g10b'))).to.equal(false);
    expect(store.groupImage(chatId)!.image.toString()).to.equal('g10');
  });

  it('deleting a chat removes its members, messages and delivery rows', () => {
    store.addMember(chatId, 'bob@x');
    store.addMessage({ chatId, id: randomBytes(16), sender: 'me@x', outgoing: true, hlc: { wallMs: 1, counter: 0 }, content: 'x', recipients: ['bob@x'] });
    store.deleteChat(chatId);
    for (const t of ['chat', 'member', 'message', 'delivery']) {
      expect(env.db.prepare(`SELECT count(*) AS n FROM ${t}`).get(), t).to.deep.equal({ n: 0 });
    }
  });
});
