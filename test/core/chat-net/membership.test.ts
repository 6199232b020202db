import { expect } from 'chai';
import { once } from 'node:events';
import { channelName, deriveGroupKeys, derivePrivateKeys } from '../../../core/chat/network-id.js';
import { SecureChannel } from '../../../core/secure-channel/index.js';
import { Testnet, waitFor, type TestPeer } from '../../helpers/testnet.js';

/** Opens a chat channel from `from` to `to` the way a node would, with the given PSK. */
async function handshake(from: TestPeer, to: TestPeer, networkId: Buffer, psk: Buffer): Promise<SecureChannel> {
  const connection = await from.kernel.connections.connect({ host: '127.0.0.1', port: to.kernel.connections.localPort });
  const channel = await from.kernel.connections.openChannel(connection, channelName(networkId, from.kernel.connections.peerId, connection.peerId));
  return SecureChannel.connect(channel, {
    psk,
    identity: { certificateChain: from.profile.certificateChain, privateKey: from.profile.privateKey },
    verifyPeer: async () => ({ ok: true }),
  });
}

describe('chat networks: who may join', function () {
  this.timeout(30_000);
  let net: Testnet | undefined;

  afterEach(async () => {
    await net?.stop();
    net = undefined;
  });

  it('a chat ID reused after leaving a chat meets the new chat\'s members (no stale network ID is kept)', async () => {
    net = await Testnet.start(2);
    const [a, b] = net.peers as [TestPeer, TestPeer];
    const first = await a.chat.createGroup('first', 'one');
    await b.chat.createGroup('first', 'one');
    await waitFor(() => a.chat.members(first.chatId).some((m) => m.online), 'a and b meet in "first"');
    await a.chat.leave(first.chatId);
    const second = await a.chat.createGroup('second', 'two');
    const bSecond = await b.chat.createGroup('second', 'two');
    // SQLite hands out the freed ID again: the case this test is about.
    expect(second.chatId).to.equal(first.chatId);
    await waitFor(() => a.chat.members(second.chatId).some((m) => m.online) && b.chat.members(bSecond.chatId).some((m) => m.online), 'a and b meet in "second"');
  });

  it('a peer with the wrong shared secret never joins a group', async () => {
    net = await Testnet.start(3);
    const [a, b, eve] = net.peers as [TestPeer, TestPeer, TestPeer];
    const ga = await a.chat.createGroup('club', 'right');
    const gb = await b.chat.createGroup('club', 'right');
    await waitFor(() => a.chat.members(ga.chatId).some((m) => m.online), 'a and b meet');
    // Eve joins "club" with another secret: another network ID, nobody to meet.
    const ge = await eve.chat.createGroup('club', 'wrong');
    expect(eve.chat.list()[0]!.chatId).to.equal(ge.chatId);
    // Eve learns the real network ID (trackers publish it) and tries its channel with her PSK.
    const real = await deriveGroupKeys('club', 'right');
    const guessed = await deriveGroupKeys('club', 'wrong');
    let refused: unknown;
    try {
      await handshake(eve, a, real.networkId, guessed.networkSecret);
    } catch (err) {
      refused = err;
    }
    expect((refused as { code?: string })?.code).to.equal('ERR_SC_BAD_PSK');
    // Eve's own chat with the same name never reaches a or b either.
    a.chat.send(ga.chatId, 'members only');
    await waitFor(() => b.chat.history(gb.chatId).messages.length === 1, 'b gets the message');
    expect(a.chat.members(ga.chatId).map((m) => m.identity)).to.deep.equal([b.email]);
    expect(eve.chat.history(ge.chatId).messages).to.have.length(0);
    expect(eve.chat.members(ge.chatId)).to.have.length(0);
  });

  it('a valid certificate with the wrong e-mail is refused from a private chat', async () => {
    net = await Testnet.start(3, ['alice@test.local', 'bob@test.local', 'mallory@test.local']);
    const [alice, bob, mallory] = net.peers as [TestPeer, TestPeer, TestPeer];
    const a = await alice.chat.openPrivateChat(bob.email);
    await bob.chat.openPrivateChat(alice.email);
    await waitFor(() => alice.chat.members(a.chatId).some((m) => m.identity === bob.email && m.online), 'alice meets bob');
    // Mallory knows both addresses, so the network ID and (without a secret) the PSK too.
    const keys = await derivePrivateKeys(alice.email, bob.email);
    const refusedBefore = alice.chat.transport.stats.refused;
    // The handshake itself succeeds (her certificate is valid); alice's side then refuses the member.
    try {
      const sc = await handshake(mallory, alice, keys.networkId, keys.networkSecret);
      sc.on('error', () => undefined);
      sc.resume();
      if (!sc.destroyed) await once(sc, 'close');
    } catch {
      // Alice may close before mallory's side has seen the handshake finish.
    }
    await waitFor(() => alice.chat.transport.stats.refused === refusedBefore + 1, 'alice refuses mallory');
    expect(alice.chat.members(a.chatId).map((m) => m.identity)).to.deep.equal([bob.email]);
  });
});
