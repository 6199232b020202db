import { expect } from 'chai';
import type { StoredMessage } from '../../../core/chat/history-store.js';
import { Testnet, waitFor } from '../../helpers/testnet.js';

describe('chat networks: private chat between two kernels', function () {
  this.timeout(30_000);
  let net: Testnet | undefined;

  afterEach(async () => {
    await net?.stop();
    net = undefined;
  });

  it('connects alice and bob, delivers both ways, acknowledges delivery', async () => {
    net = await Testnet.start(2, ['alice@test.local', 'bob@test.local']);
    const [alice, bob] = net.peers as [NonNullable<Testnet['peers'][0]>, NonNullable<Testnet['peers'][0]>];
    const a = await alice.chat.openPrivateChat('bob@test.local');
    const b = await bob.chat.openPrivateChat('alice@test.local');
    await waitFor(() => alice.chat.members(a.chatId).some((m) => m.identity === 'bob@test.local' && m.online), 'alice sees bob online');
    await waitFor(() => bob.chat.list()[0]!.mesh === 'full' && alice.chat.list()[0]!.mesh === 'full', 'full mesh on both sides');

    const gotByBob: StoredMessage[] = [];
    bob.chat.on('message', (_chatId: number, m: StoredMessage) => gotByBob.push(m));
    const delivered: string[] = [];
    alice.chat.on('delivery', (_chatId: number, d: { id: Buffer; recipient: string }) => delivered.push(d.recipient));
    const sent = alice.chat.send(a.chatId, 'hello bob');
    await waitFor(() => gotByBob.length === 1 && delivered.length === 1, 'message and delivery');
    expect(gotByBob[0]!.text).to.equal('hello bob');
    expect(gotByBob[0]!.sender).to.equal('alice@test.local');
    expect(gotByBob[0]!.id.equals(sent.id)).to.equal(true);
    expect(delivered).to.deep.equal(['bob@test.local']);

    bob.chat.send(b.chatId, 'hi alice');
    await waitFor(() => alice.chat.history(a.chatId).messages.length === 2, 'alice has both messages');
    const texts = alice.chat.history(a.chatId).messages.map((m) => m.text).sort();
    expect(texts).to.deep.equal(['hello bob', 'hi alice']);
    // Safety numbers come from the key the session showed.
    const bobInfo = alice.chat.members(a.chatId).find((m) => m.identity === 'bob@test.local')!;
    expect(bobInfo.safetyNumber).to.equal(bob.profile.safetyNumber);
  });
});
