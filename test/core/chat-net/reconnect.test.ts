import { expect } from 'chai';
import { ConnectionError, ConnectionErrorCode } from '../../../core/connection/index.js';
import { Testnet, waitFor, type TestPeer } from '../../helpers/testnet.js';

describe('chat networks: a session that dies of an error', function () {
  this.timeout(30_000);
  let net: Testnet | undefined;

  afterEach(async () => {
    await net?.stop();
    net = undefined;
  });

  it('is redialled after back-off and carries messages again', async () => {
    net = await Testnet.start(2);
    const [a, b] = net.peers as [TestPeer, TestPeer];
    const ga = await a.chat.createGroup('flaky link');
    const gb = await b.chat.createGroup('flaky link');
    await waitFor(() => a.chat.service.onlineMembers(ga.chatId).length === 1 && b.chat.service.onlineMembers(gb.chatId).length === 1, 'a and b meet');
    const offline: string[] = [];
    b.chat.on('member', (_c: number, e: { identity: string; online: boolean }) => !e.online && offline.push(e.identity));
    const sessionsBefore = a.chat.service.stats.sessions;
    // The TCP link breaks under both chat sessions (as a read timeout would).
    for (const c of a.kernel.connections.connections) c.close(new ConnectionError(ConnectionErrorCode.READ_TIMEOUT, 'test: link broke'));
    await waitFor(() => offline.length === 1, 'b sees a drop');
    await waitFor(() => a.chat.service.onlineMembers(ga.chatId).length === 1 && b.chat.service.onlineMembers(gb.chatId).length === 1, 'back together', 15_000);
    expect(a.chat.service.stats.sessions).to.equal(sessionsBefore);
    a.chat.send(ga.chatId, 'still here');
    await waitFor(() => b.chat.history(gb.chatId).messages.length === 1, 'message after the reconnect');
  });
});
