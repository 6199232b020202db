import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { SecureChannel } from '../../core/secure-channel/index.js';
import { testProfile } from './testnet.js';

export interface SecurePair {
  /** alice's side (she dialled). */
  client: SecureChannel;
  /** bob's side (he accepted). */
  server: SecureChannel;
  close(): void;
}

/** Two secure channels, alice and bob, over a real loopback TCP connection; every peer accepted. */
export async function securePair(psk: Buffer): Promise<SecurePair> {
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
    SecureChannel.connect(socket, { psk, identity: { certificateChain: alice.certificateChain, privateKey: alice.privateKey }, verifyPeer: ok }),
    SecureChannel.accept(serverSocket, { psk, identity: { certificateChain: bob.certificateChain, privateKey: bob.privateKey }, verifyPeer: ok }),
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
