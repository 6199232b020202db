import { expect } from 'chai';
import { Testnet, waitFor, type TestPeer } from '../../helpers/testnet.js';

describe('chat networks: a peer that was away', function () {
  this.timeout(40_000);
  let net: Testnet | undefined;

  afterEach(async () => {
    await net?.stop();
    net = undefined;
  });

  it('receives what it missed after a restart, and its chats come back online by themselves', async () => {
    net = await Testnet.start(3);
    const [a, b, c] = net.peers as [TestPeer, TestPeer, TestPeer];
    const ids = [];
    for (const p of [a, b, c]) ids.push((await p.chat.createGroup('night shift')).chatId);
    const [ia, ib, ic] = ids as [number, number, number];
    await waitFor(() => a.chat.members(ia).filter((m) => m.online).length === 2 && c.chat.members(ic).filter((m) => m.online).length === 2, 'mesh of three');
    c.chat.send(ic, 'before the break');
    await waitFor(() => a.chat.history(ia).messages.length === 1 && b.chat.history(ib).messages.length === 1, 'first message everywhere');

    await net.stopPeer(c);
    await waitFor(() => !a.chat.members(ia).some((m) => m.identity === c.email && m.online), 'a sees c go');
    a.chat.send(ia, 'while c was away 1');
    b.chat.send(ib, 'while c was away 2');
    await waitFor(() => a.chat.history(ia).messages.length === 3 && b.chat.history(ib).messages.length === 3, 'a and b in sync');

    await net.restartPeer(c);
    await waitFor(() => c.chat.history(ic).messages.length === 3, 'c catches up', 20_000);
    const texts = c.chat.history(ic).messages.map((m) => m.text).sort();
    expect(texts).to.deep.equal(['before the break', 'while c was away 1', 'while c was away 2']);
    expect(c.chat.list()[0]!.online).to.equal(true);
    // And c's new messages still reach the others.
    c.chat.send(ic, 'back');
    await waitFor(() => a.chat.history(ia).messages.length === 4 && b.chat.history(ib).messages.length === 4, 'c reaches a and b');
  });
});
