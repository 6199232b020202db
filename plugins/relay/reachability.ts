/**
 * Reachability (PROTOCOL.md §9.4, our variant): instead of a central check URL, a
 * node asks a relay (or any node running this plugin) to dial its listening port
 * back. The relay dials the connection ID it sees (source IP of our connection,
 * our advertised port), never an address we name, and sends a handshake carrying
 * **our own** peer ID: our node answers "self" with its peer ID and registers
 * nothing, which proves the port reaches us and not some other host.
 */
import { connect, type Socket } from 'node:net';
import { HandshakeStatus } from '../../core/connection/constants.js';
import { initiateHandshake } from '../../core/connection/handshake.js';
import type { Endpoint, PeerId } from '../../core/types.js';

export type Reachability = 'unknown' | 'reachable' | 'unreachable';

/** Dial `remote` and check that the node there has peer ID `peerId`. Never throws; `signal` aborts (node stops). */
export async function dialBack(remote: Endpoint, peerId: PeerId, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  if (!(remote.port > 0) || signal?.aborted) return false;
  let socket: Socket | undefined;
  const timer = setTimeout(() => socket?.destroy(), timeoutMs);
  const abort = (): void => {
    socket?.destroy();
  };
  signal?.addEventListener('abort', abort, { once: true });
  try {
    socket = connect({ host: remote.host, port: remote.port, noDelay: true });
    socket.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      socket!.once('connect', () => resolve());
      socket!.once('close', () => reject(new Error('closed before connect')));
    });
    const { response } = await initiateHandshake(socket, { peerId, servicePort: 0 }, timeoutMs);
    return response.status === HandshakeStatus.SELF && response.peerId.equals(peerId);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', abort);
    socket?.destroy();
  }
}
