import { expect } from 'chai';
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { SecureChannel } from '../../../core/secure-channel/index.js';
import { MAX_QUEUED_BYTES, SecureChatSession } from '../../../core/node/secure-session.js';
import { testProfile } from '../../helpers/testnet.js';

const PSK = Buffer.alloc(32, 7);
const BIG = 60_000;

/** Two secure channels over a real loopback TCP connection. */
async function pair(): Promise<{ client: SecureChannel; server: SecureChannel; close(): void }> {
  const [alice, bob] = await Promise.all([testProfile('alice@test.local', 0), testProfile('bob@test.local', 1)]);
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const socket = connect(port, '127.0.0.1');
  const [serverSocket] = await accepted;
  const ok = async () => ({ ok: true });
  const [client, srv] = await Promise.all([
    SecureChannel.connect(socket, { psk: PSK, identity: { certificateChain: alice.certificateChain, privateKey: alice.privateKey }, verifyPeer: ok }),
    SecureChannel.accept(serverSocket, { psk: PSK, identity: { certificateChain: bob.certificateChain, privateKey: bob.privateKey }, verifyPeer: ok }),
  ]);
  return {
    client,
    server: srv,
    close: () => {
      client.destroy();
      srv.destroy();
      socket.destroy();
      serverSocket.destroy();
      server.close();
    },
  };
}

describe('secure chat session', function () {
  this.timeout(20_000);

  it('carries messages both ways with the peer identity from its certificate, and closes cleanly', async () => {
    const p = await pair();
    try {
      const a = new SecureChatSession(p.client, Buffer.alloc(20, 1), { host: '127.0.0.1', port: 4000 });
      const b = new SecureChatSession(p.server, Buffer.alloc(20, 2), undefined);
      expect(a.peerIdentity).to.equal('bob@test.local');
      expect(b.peerIdentity).to.equal('alice@test.local');
      expect(a.remote).to.deep.equal({ host: '127.0.0.1', port: 4000 });
      const got = once(b, 'message');
      a.send(Buffer.from('02hello'));
      expect(((await got)[0] as Buffer).toString()).to.equal('02hello');
      const closedB = once(b, 'close');
      a.close();
      expect(a.closed).to.equal(true);
      const [err] = await closedB;
      expect(err).to.equal(undefined); // a clean close is not redialled
    } finally {
      p.close();
    }
  });

  it('closes with ERR_NODE_SLOW_PEER when a peer reads nothing and the queue passes the cap', async () => {
    const p = await pair();
    try {
      const a = new SecureChatSession(p.client, Buffer.alloc(20, 1), undefined);
      p.server.pause(); // bob never reads
      const closed = once(a, 'close');
      const chunk = Buffer.alloc(BIG, 1);
      const maxSends = Math.ceil((MAX_QUEUED_BYTES * 4) / BIG);
      for (let i = 0; i < maxSends && !a.closed; i++) a.send(chunk);
      expect(a.closed).to.equal(true);
      const [err] = await closed;
      expect((err as { code?: string }).code).to.equal('ERR_NODE_SLOW_PEER');
    } finally {
      p.close();
    }
  });
});
