import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { ChatService } from '../../../core/chat/chat-service.js';
import { ERR_CHAT_UNKNOWN_CHAT } from '../../../core/chat/errors.js';
import { HistoryStore, type StoredMessage } from '../../../core/chat/history-store.js';
import { channelName } from '../../../core/chat/network-id.js';
import { hasCode } from '../../../core/errors.js';
import { sessionPair, until } from './memory-session.js';
import { openTestDatabase } from './open-db.js';

interface Peer {
  identity: string;
  peerId: Buffer;
  service: ChatService;
  announced: string[];
  withdrawn: string[];
  messages: Array<[number, StoredMessage]>;
}

describe('chat/chat-service', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  function peer(identity: string): Peer {
    const env = openTestDatabase();
    const announced: string[] = [];
    const withdrawn: string[] = [];
    const service = new ChatService({
      store: new HistoryStore(env.db, randomBytes(32)),
      selfIdentity: identity,
      announce: async (id) => { announced.push(id.toString('hex')); },
      withdraw: async (id) => { withdrawn.push(id.toString('hex')); },
    });
    const p: Peer = { identity, peerId: randomBytes(20), service, announced, withdrawn, messages: [] };
    service.on('message', (chatId: number, m: StoredMessage) => p.messages.push([chatId, m]));
    cleanups.push(async () => { await service.stop(); env.close(); });
    return p;
  }

  /** What the integration will do for one channel: find the chat by channel name on the acceptor, attach both ends. */
  async function link(a: Peer, aChat: number, b: Peer): Promise<number> {
    const { networkId } = a.service.chats().find((c) => c.chatId === aChat)!;
    const name = channelName(networkId, a.peerId, b.peerId);
    const bChat = b.service.chatForChannel(name, b.peerId, a.peerId);
    if (bChat === undefined) throw new Error('no matching chat');
    expect(b.service.networkSecret(bChat).equals(a.service.networkSecret(aChat))).to.equal(true);
    const fingerprint = (id: string): Buffer => createHash('sha256').update(id).digest();
    const [sa, sb] = sessionPair(
      { identity: b.identity, fingerprint: fingerprint(b.identity), peerId: b.peerId },
      { identity: a.identity, fingerprint: fingerprint(a.identity), peerId: a.peerId },
    );
    await Promise.all([a.service.attachSession(aChat, sa), b.service.attachSession(bChat, sb)]);
    return bChat;
  }

  it('group: create, go online (announced), send, history page and search on both sides', async () => {
    const alice = peer('alice@x.org');
    const bob = peer('bob@x.org');
    const ga = await alice.service.createGroup('Friends', { sharedSecret: 'pw' });
    const gb = await bob.service.createGroup('friends', { sharedSecret: 'pw' });
    expect(ga.networkId.equals(gb.networkId)).to.equal(true);
    await alice.service.goOnline(ga.chatId);
    await bob.service.goOnline(gb.chatId);
    expect(alice.announced).to.deep.equal([ga.networkId.toString('hex')]);
    const status: string[] = [];
    alice.service.on('mesh-status', (_c: number, s: string) => status.push(s));
    await link(alice, ga.chatId, bob);
    expect(alice.service.meshStatus(ga.chatId)).to.equal('full');
    expect(status).to.deep.equal(['full']);
    alice.service.send(ga.chatId, 'Hello Bob');
    bob.service.send(gb.chatId, 'hi alice');
    await until(() => alice.messages.length === 1 && bob.messages.length === 1, 3000, 'messages');
    expect(alice.service.history(ga.chatId).messages.map((m) => m.text)).to.have.members(['Hello Bob', 'hi alice']);
    expect(bob.service.search('hello').hits.map((m) => m.sender)).to.deep.equal(['alice@x.org']);
    await alice.service.goOffline(ga.chatId);
    expect(alice.withdrawn.length).to.equal(1);
    await until(() => bob.service.meshStatus(gb.chatId) === 'none', 3000, 'bob alone');
  });

  it('a peer with the wrong shared secret never finds the chat (different network ID and PSK)', async () => {
    const alice = peer('alice@x.org');
    const eve = peer('eve@x.org');
    const ga = await alice.service.createGroup('friends', { sharedSecret: 'pw' });
    const ge = await eve.service.createGroup('friends', { sharedSecret: 'guess' });
    await alice.service.goOnline(ga.chatId);
    await eve.service.goOnline(ge.chatId);
    expect(ga.networkId.equals(ge.networkId)).to.equal(false);
    expect(alice.service.networkSecret(ga.chatId).equals(eve.service.networkSecret(ge.chatId))).to.equal(false);
    let err: unknown;
    try { await link(eve, ge.chatId, alice); } catch (e) { err = e; }
    expect(String(err)).to.contain('no matching chat');
  });

  it('private chat: a message written offline is delivered when both are online', async () => {
    const alice = peer('alice@x.org');
    const bob = peer('bob@x.org');
    const pa = await alice.service.openPrivateChat('Bob@X.org');
    const pb = await bob.service.openPrivateChat('alice@x.org');
    const sent = alice.service.send(pa.chatId, 'written while offline');
    expect(sent.outgoing).to.equal(true);
    const deliveries: unknown[] = [];
    alice.service.on('delivery', (_c: number, d: unknown) => deliveries.push(d));
    await alice.service.goOnline(pa.chatId);
    await bob.service.goOnline(pb.chatId);
    await link(alice, pa.chatId, bob);
    await until(() => deliveries.length === 1, 3000, 'delivery');
    expect(bob.messages.map(([, m]) => m.text)).to.deep.equal(['written while offline']);
  });

  it('restores a stored chat with its secret and refuses a wrong one', async () => {
    const env = openTestDatabase();
    cleanups.push(() => env.close());
    const key = randomBytes(32);
    const first = new ChatService({ store: new HistoryStore(env.db, key), selfIdentity: 'alice@x.org' });
    const g = await first.createGroup('Team', { sharedSecret: 's' });
    const p = await first.openPrivateChat('bob@x.org');
    const again = new ChatService({ store: new HistoryStore(env.db, key), selfIdentity: 'alice@x.org' });
    await again.restore(g.chatId, 's');
    await again.restore(p.chatId);
    expect(again.networkSecret(g.chatId).equals(first.networkSecret(g.chatId))).to.equal(true);
    let err: unknown;
    try { await again.restore(g.chatId, 'wrong'); } catch (e) { err = e; }
    expect(hasCode(err, 'ERR_CHAT_BAD_INPUT')).to.equal(true);
  });

  it('unknown chats are typed errors', async () => {
    const alice = peer('alice@x.org');
    for (const f of [() => alice.service.send(99, 'x'), () => alice.service.history(99), () => alice.service.networkSecret(99)]) {
      let err: unknown;
      try { f(); } catch (e) { err = e; }
      expect(hasCode(err, ERR_CHAT_UNKNOWN_CHAT)).to.equal(true);
    }
  });
});
