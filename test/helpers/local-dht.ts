/**
 * A private mainline DHT on 127.0.0.1: N `bittorrent-dht` nodes that know each
 * other, for tests and benchmarks. Nothing here ever contacts the public routers
 * (`bootstrap: false`, and every node is told its neighbours with their IDs).
 */
import { createSocket, type Socket } from 'node:dgram';
import DHT from 'bittorrent-dht';

const LOOPBACK = '127.0.0.1';
const MAX_NODES = 200;

export interface LocalDht {
  nodes: DHT[];
  /** "127.0.0.1:port" of every node, for a client's `bootstrap`. */
  bootstrap: string[];
  close(): Promise<void>;
}

function listen(dht: DHT): Promise<void> {
  return new Promise((resolve, reject) => {
    // Same tick as the constructor, or the library binds 0.0.0.0 by itself.
    dht.listen(0, LOOPBACK);
    dht.once('listening', () => resolve());
    dht.once('error', reject);
  });
}

/** Start `count` DHT nodes on loopback; each knows every other (IDs included). */
export async function startLocalDht(count: number): Promise<LocalDht> {
  if (!Number.isInteger(count) || count < 1 || count > MAX_NODES) throw new RangeError(`1..${MAX_NODES} nodes`);
  const nodes: DHT[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const dht = new DHT({ bootstrap: false });
      nodes.push(dht);
      await listen(dht);
    }
  } catch (err) {
    await Promise.all(nodes.map((d) => new Promise<void>((r) => d.destroy(() => r()))));
    throw err;
  }
  for (const a of nodes) {
    for (const b of nodes) {
      if (a !== b) a.addNode({ host: LOOPBACK, port: b.address().port, id: b.nodeId });
    }
  }
  return {
    nodes,
    bootstrap: nodes.map((d) => `${LOOPBACK}:${d.address().port}`),
    close: async () => {
      await Promise.all(nodes.map((d) => new Promise<void>((r) => d.destroy(() => r()))));
    },
  };
}

/**
 * The dht plugin's options for a node that joins `dht` (loopback only, no saved routing
 * table; announces spaced out so a test's own lookups drive the timing).
 */
export function localDhtPluginOptions(dht: LocalDht) {
  return { bootstrap: dht.bootstrap, host: LOOPBACK, allowPrivateAddresses: true, persistRoutingTable: false, announceIntervalSeconds: 300, fastAnnounceIntervalSeconds: 120 };
}

/**
 * A UDP socket whose every outgoing datagram's destination is recorded, so a
 * test can assert that nothing left loopback.
 */
export function createRecordingSocket(destinations: string[]): Socket {
  const socket = createSocket('udp4');
  const send = socket.send.bind(socket) as (...args: unknown[]) => void;
  // k-rpc-socket calls send(buf, offset, length, port, host[, cb]).
  (socket as unknown as { send: (...args: unknown[]) => void }).send = (...args: unknown[]) => {
    const host = typeof args[4] === 'string' ? args[4] : typeof args[2] === 'string' ? args[2] : String(args[4] ?? args[2]);
    destinations.push(host);
    send(...args);
  };
  return socket;
}
