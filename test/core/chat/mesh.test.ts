import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { backoffDelay, BACKOFF_MAX_MS } from '../../../core/chat/backoff.js';
import { ERR_CHAT_KEY_MISMATCH, ERR_CHAT_NOT_MEMBER } from '../../../core/chat/errors.js';
import { compareHlc, HybridLogicalClock } from '../../../core/chat/hlc.js';
import { HistoryStore, type StoredMessage } from '../../../core/chat/history-store.js';
import { ChatMesh, type ChatMeshOptions, EVALUATE_COALESCE_MS, PEER_EXCHANGE_COALESCE_MS, PEX_DIAL_GRACE_MS } from '../../../core/chat/mesh.js';
import type { Scheduler } from '../../../core/chat/session.js';
import { decodeMessage } from '../../../core/chat/message-codec.js';
import { ChatMessageTypes } from '../../../core/chat/message-types.js';
import { deriveGroupKeys, derivePrivateKeys } from '../../../core/chat/network-id.js';
import { hasCode } from '../../../core/errors.js';
import type { Endpoint } from '../../../core/types.js';
import { MemorySession, sessionPair, until } from './memory-session.js';
import { openTestDatabase } from './open-db.js';

interface Node {
  identity: string;
  fingerprint: Buffer;
  peerId: Buffer;
  endpoint: Endpoint;
  store: HistoryStore;
  mesh: ChatMesh;
  received: StoredMessage[];
  close(): void;
}

const cleanups: Array<() => void> = [];

/** Timers that run only when the test advances the clock (mesh timers; sessions still deliver on setImmediate). */
class ManualScheduler implements Scheduler {
  private now = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  setTimeout(fn: () => void, ms: number): unknown {
    this.timers.set(++this.seq, { at: this.now + ms, fn });
    return this.seq;
  }
  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }
  setInterval(): unknown {
    return 0; // keep-alive: not under test here
  }
  clearInterval(): void {}
  /** Runs every timer due within `ms`, in time order (bounded: timers added meanwhile count too, at most 10,000). */
  advance(ms: number): void {
    const until = this.now + ms;
    for (let guard = 0; guard < 10_000; guard++) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= until && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
    }
    this.now = until;
  }
}
let portSeq = 20000;

function fp(identity: string, variant = ''): Buffer {
  return createHash('sha256').update(identity + variant).digest();
}

function makeNode(
  identity: string,
  chat: { networkId: Buffer; kind: 'group' | 'private'; name: string },
  extra: Partial<ChatMeshOptions> = {},
): Node {
  const env = openTestDatabase();
  const store = new HistoryStore(env.db, randomBytes(32));
  const record = store.addChat(chat);
  const mesh = new ChatMesh({ chat: record, selfIdentity: identity, store, clock: new HybridLogicalClock(), types: new ChatMessageTypes(), backoff: { baseMs: 5, maxMs: 20 }, ...extra });
  const received: StoredMessage[] = [];
  mesh.on('message', (m: StoredMessage) => received.push(m));
  const node: Node = {
    identity, fingerprint: fp(identity), peerId: randomBytes(20), endpoint: { host: '127.0.0.1', port: portSeq++ }, store, mesh, received,
    close: () => { mesh.stop(); env.close(); },
  };
  cleanups.push(node.close);
  return node;
}

/** Connects two nodes the way the secure channel will: each side gets a session naming the other. */
async function connect(a: Node, b: Node, opts: { aFingerprint?: Buffer } = {}): Promise<[MemorySession, MemorySession]> {
  const [sa, sb] = sessionPair(
    { identity: b.identity, fingerprint: b.fingerprint, peerId: b.peerId, remote: b.endpoint },
    { identity: a.identity, fingerprint: opts.aFingerprint ?? a.fingerprint, peerId: a.peerId, remote: a.endpoint },
  );
  await Promise.all([a.mesh.addSession(sa), b.mesh.addSession(sb)]);
  return [sa, sb];
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  let err: unknown;
  try { await p; } catch (e) { err = e; }
  expect(hasCode(err, code), String(err)).to.equal(true);
}

describe('chat/mesh (in-memory sessions, real SQLite stores)', () => {
  afterEach(() => {
    while (cleanups.length) cleanups.pop()!();
  });

  it('private chat: a message arrives once, the sender sees the delivery, both meshes are full', async () => {
    const keys = await derivePrivateKeys('alice@x.org', 'bob@x.org');
    const alice = makeNode('alice@x.org', { networkId: keys.networkId, kind: 'private', name: 'bob@x.org' }, { peerIdentity: 'bob@x.org' });
    const bob = makeNode('bob@x.org', { networkId: keys.networkId, kind: 'private', name: 'alice@x.org' }, { peerIdentity: 'alice@x.org' });
    const deliveries: unknown[] = [];
    alice.mesh.on('delivery', (d) => deliveries.push(d));
    const [sa] = await connect(alice, bob);
    expect(alice.mesh.status).to.equal('full');
    const m = alice.mesh.sendText('hello bob');
    await until(() => deliveries.length === 1, 3000, 'delivery');
    expect(bob.received.map((r) => [r.sender, r.text, r.outgoing])).to.deep.equal([['alice@x.org', 'hello bob', false]]);
    expect(alice.store.deliveryOf(alice.mesh.chat.chatId, m.id)[0]!.deliveredAt).to.be.a('number');
    // the same Text replayed is acknowledged again but not shown again
    sa.send(sa.sent.find((b) => b[0] === 2)!);
    await until(() => bob.mesh.stats.duplicates === 1, 3000, 'duplicate');
    expect(bob.received.length).to.equal(1);
  });

  it('a burst of texts is acknowledged with one Delivery per session, recorded in one go', async () => {
    const keys = await deriveGroupKeys('burst');
    const chat = { networkId: keys.networkId, kind: 'group' as const, name: 'burst' };
    const [a, b, c] = ['a@x.org', 'b@x.org', 'c@x.org'].map((id) => makeNode(id, chat)) as [Node, Node, Node];
    await connect(a, b);
    const [, cToA] = await connect(a, c);
    const deliveries: Array<{ recipient: string }> = [];
    a.mesh.on('delivery', (d: { recipient: string }) => deliveries.push(d));
    const sent = Array.from({ length: 20 }, (_, i) => a.mesh.sendText(`burst ${i}`));
    await until(() => deliveries.length === 40, 3000, 'all acknowledged');
    const acks = cToA.sent.filter((m) => m[0] === 3).map((m) => decodeMessage(m));
    expect(acks.length).to.equal(1);
    expect(acks[0]!.kind === 'delivery' && acks[0]!.ids.map((id) => id.toString('hex'))).to.deep.equal(sent.map((m) => m.id.toString('hex')));
    for (const m of sent) expect(a.store.deliveryOf(a.mesh.chat.chatId, m.id).every((d) => d.deliveredAt !== null)).to.equal(true);
  });

  it('private chat: refuses a valid certificate with the wrong e-mail, accepts own devices and, for an invitation, the derived peer', async () => {
    const keys = await derivePrivateKeys('alice@x.org', 'bob@x.org');
    const chat = { networkId: keys.networkId, kind: 'private' as const, name: 'bob@x.org' };
    const alice = makeNode('alice@x.org', chat, { peerIdentity: 'bob@x.org' });
    const carol = makeNode('carol@x.org', chat);
    await rejectsWith(connect(alice, carol), ERR_CHAT_NOT_MEMBER);
    expect(alice.mesh.sessionCount()).to.equal(0);
    const alice2 = makeNode('alice@x.org', chat, { peerIdentity: 'bob@x.org' });
    await connect(alice, alice2);
    expect(alice.mesh.onlineMembers()).to.deep.equal(['alice@x.org']);

    const invited = makeNode('bob@x.org', chat); // peer unknown: derive from the certificate e-mail
    const mallory = makeNode('mallory@x.org', chat);
    const [fromMallory] = sessionPair({ identity: 'mallory@x.org', fingerprint: mallory.fingerprint, peerId: mallory.peerId }, { identity: 'bob@x.org', fingerprint: invited.fingerprint, peerId: invited.peerId });
    await rejectsWith(invited.mesh.addSession(fromMallory), ERR_CHAT_NOT_MEMBER);
    expect(fromMallory.closed).to.equal(true);
    const [, s] = sessionPair({ identity: 'bob@x.org', fingerprint: invited.fingerprint, peerId: invited.peerId }, { identity: 'alice@x.org', fingerprint: alice.fingerprint, peerId: alice.peerId });
    expect(await invited.mesh.addSession(s)).to.equal('member');
  });

  it('group of 10: peer exchange completes the mesh from a star; every message reaches the 9 others exactly once, in order per sender', async () => {
    const keys = await deriveGroupKeys('ten', 'secret');
    const nodes = Array.from({ length: 10 }, (_, i) => makeNode(`n${i}@x.org`, { networkId: keys.networkId, kind: 'group', name: 'ten' }));
    const byPort = new Map(nodes.map((n) => [n.endpoint.port, n]));
    const linked = new Set<string>();
    const link = async (a: Node, b: Node): Promise<void> => {
      const key = [a.identity, b.identity].sort().join('|');
      if (a === b || linked.has(key)) return;
      linked.add(key);
      await connect(a, b);
    };
    for (const n of nodes) n.mesh.on('dial', (ep: Endpoint) => { const t = byPort.get(ep.port); if (t) void link(n, t); });
    for (const n of nodes.slice(1)) await link(nodes[0]!, n);
    await until(() => nodes.every((n) => n.mesh.status === 'full' && n.mesh.onlineMembers().length === 9), 5000, 'full mesh');

    for (let round = 0; round < 3; round++) for (const n of nodes) n.mesh.sendText(`${n.identity} #${round}`);
    await until(() => nodes.every((n) => n.received.length === 27), 5000, 'all messages');
    for (const n of nodes) {
      const ids = new Set(n.received.map((m) => m.id.toString('hex')));
      expect(ids.size).to.equal(27);
      expect(n.received.some((m) => m.sender === n.identity)).to.equal(false);
      for (const other of nodes) {
        if (other === n) continue;
        const fromOther = n.received.filter((m) => m.sender === other.identity);
        expect(fromOther.map((m) => m.text)).to.deep.equal([0, 1, 2].map((r) => `${other.identity} #${r}`));
        for (let i = 1; i < fromOther.length; i++) expect(compareHlc(fromOther[i]!.hlc, fromOther[i - 1]!.hlc)).to.be.greaterThan(0);
      }
    }
  });

  it('same profile on two devices: my messages appear on my other device (as mine) and reach others once', async () => {
    const keys = await deriveGroupKeys('devices');
    const chat = { networkId: keys.networkId, kind: 'group' as const, name: 'devices' };
    const laptop = makeNode('alice@x.org', chat);
    const phone = makeNode('alice@x.org', chat);
    const bob = makeNode('bob@x.org', chat);
    await connect(laptop, phone);
    await connect(laptop, bob);
    await connect(phone, bob);
    laptop.mesh.sendText('from my laptop');
    await until(() => phone.received.length === 1 && bob.received.length === 1, 3000, 'copies');
    expect(phone.received[0]!.outgoing).to.equal(true);
    expect(phone.received[0]!.sender).to.equal('alice@x.org');
    expect(laptop.store.deliveryOf(laptop.mesh.chat.chatId, phone.received[0]!.id).map((d) => d.recipient)).to.deep.equal(['alice@x.org', 'bob@x.org']);
    await until(() => laptop.store.undelivered(laptop.mesh.chat.chatId, 'alice@x.org').length === 0, 3000, 'own device ack');
  });

  it('images: newest wins, group images only in groups', async () => {
    const keys = await deriveGroupKeys('img');
    const chat = { networkId: keys.networkId, kind: 'group' as const, name: 'img' };
    const a = makeNode('a@x.org', chat, { profileImage: () => ({ dateModified: 10, image: Buffer.from('a-v10') }) });
    const b = makeNode('b@x.org', chat);
    const seen: string[] = [];
    b.mesh.on('profile-image', (p: { image: Buffer }) => seen.push(p.image.toString()));
    b.mesh.on('group-image', (p: { image: Buffer }) => seen.push(`group:${p.image.toString()}`));
    await connect(a, b);
    await until(() => seen.length === 1, 3000, 'profile image on connect');
    a.mesh.announceProfileImage(5, Buffer.from('older'));
    expect(a.mesh.setGroupImage(7, Buffer.from('g7'))).to.equal(true);
    await until(() => seen.length === 2, 3000, 'group image');
    expect(seen).to.deep.equal(['a-v10', 'group:g7']);
    expect(b.store.peerImage('a@x.org')!.image.toString()).to.equal('a-v10');
  });

  it('a recipient that was offline gets its undelivered messages re-sent, oldest first', async () => {
    const keys = await derivePrivateKeys('alice@x.org', 'bob@x.org');
    const alice = makeNode('alice@x.org', { networkId: keys.networkId, kind: 'private', name: 'bob@x.org' }, { peerIdentity: 'bob@x.org' });
    const bob = makeNode('bob@x.org', { networkId: keys.networkId, kind: 'private', name: 'alice@x.org' }, { peerIdentity: 'alice@x.org' });
    alice.store.addMember(alice.mesh.chat.chatId, 'bob@x.org'); // what openPrivateChat does
    for (const t of ['one', 'two', 'three']) alice.mesh.sendText(t);
    expect(alice.store.undelivered(alice.mesh.chat.chatId, 'bob@x.org').length).to.equal(3);
    await connect(alice, bob);
    await until(() => alice.store.undelivered(alice.mesh.chat.chatId, 'bob@x.org').length === 0, 3000, 'acks');
    expect(bob.received.map((m) => m.text)).to.deep.equal(['one', 'two', 'three']);
    expect(alice.mesh.stats.resent).to.equal(3);
  });

  it('a member that comes back fetches what it missed from another member (history sync by IDs), once', async () => {
    const keys = await deriveGroupKeys('sync');
    const chat = { networkId: keys.networkId, kind: 'group' as const, name: 'sync' };
    const [a, b, c] = ['a@x.org', 'b@x.org', 'c@x.org'].map((id) => makeNode(id, chat)) as [Node, Node, Node];
    await connect(a, b);
    const [, cToB] = await connect(b, c);
    b.mesh.sendText('before');
    await until(() => c.received.length === 1, 3000, 'before');
    cToB.close();
    await until(() => c.mesh.status === 'none' && b.mesh.onlineMembers().length === 1, 3000, 'c offline');
    for (let i = 0; i < 5; i++) a.mesh.sendText(`missed ${i}`);
    b.mesh.sendText('missed from b');
    await until(() => b.received.length === 5, 3000, 'b got a');
    await connect(c, b); // c comes back, to b only
    await until(() => c.received.length === 7, 3000, 'sync');
    expect(c.received.slice(1).map((m) => m.text).sort()).to.deep.equal(['missed 0', 'missed 1', 'missed 2', 'missed 3', 'missed 4', 'missed from b']);
    expect(c.mesh.stats.syncedIn + c.mesh.stats.messagesIn).to.be.at.least(6);
    expect(new Set(c.received.map((m) => m.id.toString('hex'))).size).to.equal(7);
  });

  it('members that learn of each other from a peer list: the lower identity dials at once, the higher only after a grace', async () => {
    const keys = await deriveGroupKeys('who dials');
    const chat = { networkId: keys.networkId, kind: 'group' as const, name: 'who dials' };
    const scheduler = new ManualScheduler();
    const [a, b, c] = ['a@x.org', 'b@x.org', 'c@x.org'].map((id) => makeNode(id, chat, { scheduler, random: () => 0.5 })) as [Node, Node, Node];
    const dials: string[] = [];
    for (const n of [a, c]) n.mesh.on('dial', (ep: Endpoint) => dials.push(`${n.identity}->${ep.port}`));
    await connect(a, b);
    await connect(b, c);
    scheduler.advance(PEER_EXCHANGE_COALESCE_MS); // b introduces a and c to each other
    await until(() => a.mesh.stats.peerExchangesReceived >= 1 && c.mesh.stats.peerExchangesReceived >= 1, 3000, 'peer lists');
    scheduler.advance(EVALUATE_COALESCE_MS);
    expect(dials).to.deep.equal([`a@x.org->${c.endpoint.port}`]);
    expect(c.mesh.stats.deferredDials).to.equal(1);
    scheduler.advance(PEX_DIAL_GRACE_MS * 0.99);
    expect(dials.length).to.equal(1);
    // a never got through (say c is behind a firewall a cannot pass): c dials after the grace
    scheduler.advance(PEX_DIAL_GRACE_MS * 0.02);
    expect(dials).to.deep.equal([`a@x.org->${c.endpoint.port}`, `c@x.org->${a.endpoint.port}`]);
    await connect(a, c);
    expect([a.mesh.status, b.mesh.status, c.mesh.status]).to.deep.equal(['full', 'full', 'full']);
  });

  it('a trigger update skips a session that lacks nothing in it', async () => {
    const keys = await deriveGroupKeys('news');
    const chat = { networkId: keys.networkId, kind: 'group' as const, name: 'news' };
    const scheduler = new ManualScheduler();
    const [a, b, c, d] = ['a@x.org', 'b@x.org', 'c@x.org', 'd@x.org'].map((id) => makeNode(id, chat, { scheduler })) as [Node, Node, Node, Node];
    const settle = async (): Promise<void> => {
      // bounded: a few rounds of timers and deliveries until nothing is sent any more
      for (let round = 0; round < 10; round++) {
        const sent = [a, b, c, d].reduce((n, x) => n + x.mesh.stats.peerExchangesSent, 0);
        scheduler.advance(1_000);
        await new Promise((r) => setTimeout(r, 20));
        if ([a, b, c, d].reduce((n, x) => n + x.mesh.stats.peerExchangesSent, 0) === sent) return;
      }
    };
    await connect(a, b);
    await connect(a, c);
    await connect(b, c);
    await settle();
    await connect(d, b);
    await settle(); // b told a and c about d
    const [atB, atC] = [b.mesh.stats.peerExchangesReceived, c.mesh.stats.peerExchangesReceived];
    const skipped = a.mesh.stats.peerExchangesSkipped;
    await connect(d, a);
    await settle();
    // a's news (d) goes to c, which lacks d; b holds a session with d, and d had the same
    // list in its introduction: both skipped (so are d's news for b, which has a)
    expect(a.mesh.stats.peerExchangesSkipped - skipped).to.equal(2);
    expect(c.mesh.stats.peerExchangesReceived).to.be.greaterThan(atC);
    expect(b.mesh.stats.peerExchangesReceived).to.equal(atB);
    expect([a, b, c, d].map((x) => x.mesh.status)).to.deep.equal(['full', 'full', 'partial', 'partial']); // c and d are not connected yet
  });

  it('a deferred dial is dropped when the lower identity connects first', async () => {
    const keys = await deriveGroupKeys('grace');
    const chat = { networkId: keys.networkId, kind: 'group' as const, name: 'grace' };
    const scheduler = new ManualScheduler();
    const [a, b, c] = ['a@x.org', 'b@x.org', 'c@x.org'].map((id) => makeNode(id, chat, { scheduler })) as [Node, Node, Node];
    const dials: string[] = [];
    c.mesh.on('dial', (ep: Endpoint) => dials.push(`c->${ep.port}`));
    await connect(a, b);
    await connect(b, c);
    scheduler.advance(PEER_EXCHANGE_COALESCE_MS);
    await until(() => c.mesh.stats.peerExchangesReceived >= 1, 3000, 'peer list at c');
    scheduler.advance(EVALUATE_COALESCE_MS);
    expect(c.mesh.stats.deferredDials).to.equal(1);
    expect(c.mesh.status).to.equal('partial');
    await connect(a, c);
    scheduler.advance(PEX_DIAL_GRACE_MS * 2);
    expect(dials).to.deep.equal([]);
    expect(c.mesh.status).to.equal('full');
  });

  it('redials with back-off when a session dies of an error, not after a clean close', async () => {
    const keys = await deriveGroupKeys('redial');
    const chat = { networkId: keys.networkId, kind: 'group' as const, name: 'redial' };
    const a = makeNode('a@x.org', chat);
    const b = makeNode('b@x.org', chat);
    const dials: Endpoint[] = [];
    a.mesh.on('dial', (ep: Endpoint) => dials.push(ep));
    const [s1] = await connect(a, b);
    s1.close();
    await until(() => a.mesh.sessionCount() === 0, 3000, 'closed');
    await new Promise((r) => setTimeout(r, 40));
    expect(dials).to.deep.equal([]);
    const [s2] = await connect(a, b);
    s2.kill();
    await until(() => dials.length === 1, 3000, 'redial');
    expect(dials[0]).to.deep.equal(b.endpoint);
    a.mesh.dialFailed(b.endpoint);
    await until(() => dials.length === 2, 3000, 'second redial');
    await connect(a, b); // success clears the schedule
    expect(a.mesh.status).to.equal('full');
  });

  it('does not add a session that closed while it was being admitted', async () => {
    const keys = await derivePrivateKeys('alice@x.org', 'bob@x.org');
    const chat = { networkId: keys.networkId, kind: 'private' as const, name: '?' };
    const bob = makeNode('bob@x.org', chat); // invitation case: admission runs PBKDF2
    const [s] = sessionPair({ identity: 'alice@x.org', fingerprint: fp('alice@x.org'), peerId: randomBytes(20) }, { identity: 'bob@x.org', fingerprint: bob.fingerprint, peerId: bob.peerId });
    const admitted = bob.mesh.addSession(s);
    s.close();
    await rejectsWith(admitted, 'ERR_CHAT_PROTOCOL');
    expect(bob.mesh.sessionCount()).to.equal(0);
  });

  it('back-off grows exponentially with jitter and is capped', () => {
    expect(backoffDelay(0, () => 0.5)).to.equal(500);
    expect(backoffDelay(3, () => 0.5)).to.equal(4000);
    expect(backoffDelay(100, () => 0.999)).to.equal(BACKOFF_MAX_MS);
    expect(backoffDelay(1, () => 0)).to.equal(800);
  });

  it('refuses a second session with another key while one is open; reports a replaced key later', async () => {
    const keys = await deriveGroupKeys('keys');
    const chat = { networkId: keys.networkId, kind: 'group' as const, name: 'keys' };
    const a = makeNode('a@x.org', chat);
    const b = makeNode('b@x.org', chat);
    const [s1] = await connect(a, b);
    const [other] = sessionPair({ identity: 'b@x.org', fingerprint: fp('b@x.org', 'new'), peerId: randomBytes(20) }, { identity: 'a@x.org', fingerprint: a.fingerprint, peerId: a.peerId });
    await rejectsWith(a.mesh.addSession(other), ERR_CHAT_KEY_MISMATCH);
    s1.close();
    await until(() => a.mesh.sessionCount() === 0, 3000, 'closed');
    const changed: string[] = [];
    a.mesh.on('key-changed', (id: string) => changed.push(id));
    const [again] = sessionPair({ identity: 'b@x.org', fingerprint: fp('b@x.org', 'new'), peerId: randomBytes(20) }, { identity: 'a@x.org', fingerprint: a.fingerprint, peerId: a.peerId });
    await a.mesh.addSession(again);
    expect(changed).to.deep.equal(['b@x.org']);
  });

  it('closes the session of a peer that sends a malformed message; ignores unknown types', async () => {
    const keys = await deriveGroupKeys('bad');
    const chat = { networkId: keys.networkId, kind: 'group' as const, name: 'bad' };
    const a = makeNode('a@x.org', chat);
    const b = makeNode('b@x.org', chat);
    const [, sb] = await connect(a, b);
    const errors: unknown[] = [];
    a.mesh.on('protocol-error', (_id, e) => errors.push(e));
    sb.send(Buffer.from([200, 1, 2, 3]));
    await until(() => a.mesh.stats.ignored === 1, 3000, 'ignored');
    sb.send(Buffer.from([2, 1, 2]));
    await until(() => a.mesh.sessionCount() === 0, 3000, 'closed');
    expect(errors.length).to.equal(1);
  });

  it('fuzz: mutated and random messages from a member never throw out of the mesh (bounded)', async () => {
    const keys = await deriveGroupKeys('fuzz');
    const chat = { networkId: keys.networkId, kind: 'group' as const, name: 'fuzz' };
    const a = makeNode('a@x.org', chat);
    const b = makeNode('b@x.org', chat);
    const [sa, sb] = await connect(a, b);
    b.mesh.sendText('seed text');
    b.mesh.sendTyping();
    await until(() => a.received.length === 1, 3000, 'seed');
    const valid = [...sb.sent];
    expect(valid.length).to.be.greaterThan(2);
    let thrown = 0;
    for (let i = 0; i < 3000; i++) {
      const src = i % 3 === 2 ? randomBytes(1 + (i % 40)) : Buffer.from(valid[i % valid.length]!);
      if (i % 3 !== 2) src[i % src.length]! ^= 1 << (i % 8);
      else src[0] = i % 12;
      try { sa.emit('message', src); } catch { thrown++; }
    }
    expect(thrown).to.equal(0);
    expect(a.mesh.stats.protocolErrors).to.be.greaterThan(0);
    // whatever got stored is readable and unique
    const all = a.store.page(a.mesh.chat.chatId, { limit: 500 }).messages;
    expect(new Set(all.map((m) => m.id.toString('hex'))).size).to.equal(all.length);
  });

  it('300 members: peer exchange lists them all, no u8 overflow', async () => {
    const keys = await deriveGroupKeys('big');
    const hub = makeNode('hub@x.org', { networkId: keys.networkId, kind: 'group', name: 'big' });
    const far: MemorySession[] = [];
    for (let i = 0; i < 300; i++) {
      const [near, remote] = sessionPair(
        { identity: `m${i}@x.org`, fingerprint: fp(`m${i}`), peerId: randomBytes(20), remote: { host: '127.0.0.1', port: 30000 + i } },
        { identity: 'hub@x.org', fingerprint: hub.fingerprint, peerId: hub.peerId },
      );
      await hub.mesh.addSession(near);
      far.push(remote);
    }
    const last = far[0]!;
    // the peer lists the first member got from the hub (queued until we listen)
    const lists: number[] = [];
    last.on('message', (b: Buffer) => {
      if (b[0] !== 1) return;
      const m = decodeMessage(b);
      if (m.kind === 'peer-exchange') lists.push(m.peers.length);
    });
    await until(() => lists.includes(300), 10000, 'a peer list of 300');
    // joins in a burst are coalesced into few lists (trigger updates, not one per session)
    expect(lists.length).to.be.lessThan(100);
    expect(hub.mesh.stats.peerExchangesSent).to.equal(lists.length);
    expect(hub.mesh.onlineMembers().length).to.equal(300);
  });
});
