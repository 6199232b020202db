/**
 * Hostile mainline-DHT traffic for tests: raw datagrams, bencode bombs, and a
 * fake DHT node that answers every query with a huge peer list. Loopback only.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';

const LOOPBACK = '127.0.0.1';

/** Send datagrams from a throw-away socket to 127.0.0.1:port. */
export async function sendDatagrams(port: number, packets: Buffer[]): Promise<void> {
  const socket = createSocket('udp4');
  try {
    for (const p of packets) {
      await new Promise<void>((resolve, reject) => socket.send(p, port, LOOPBACK, (err) => (err ? reject(err) : resolve())));
    }
  } finally {
    socket.close();
  }
}

export function garbagePackets(count: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) out.push(randomBytes(1 + (i % 200)));
  return out;
}

/** Deep nesting: a recursive decoder overflows its stack on this. */
export function bencodeBomb(depth = 30_000): Buffer {
  return Buffer.from('l'.repeat(depth) + 'e'.repeat(depth));
}

/** A string header claiming ~1 GB: a decoder that trusts it allocates or reads past the end. */
export function bencodeLengthLie(): Buffer {
  return Buffer.from('d1:t2:aa1:y1:r1:rd2:id999999999:xxee');
}

/** A well-formed response with a transaction ID nobody asked for. */
export function unsolicitedResponse(): Buffer {
  return Buffer.concat([Buffer.from('d1:rd2:id20:'), randomBytes(20), Buffer.from('e1:t2:zz1:y1:re')]);
}

/** The `t` value of a bencoded K-RPC query (top-level key "1:t"), or null. */
function transactionId(msg: Buffer): Buffer | null {
  const marker = msg.indexOf('1:t');
  if (marker < 0) return null;
  const m = /^(\d{1,2}):/.exec(msg.subarray(marker + 3, marker + 7).toString('latin1'));
  if (!m) return null;
  const start = marker + 3 + m[0].length;
  const len = Number(m[1]);
  if (start + len > msg.length) return null;
  return msg.subarray(start, start + len);
}

export interface FakeDhtNode {
  id: Buffer;
  port: number;
  queries: number;
  close(): Promise<void>;
}

/** A DHT "node" that answers every query with `peerCount` compact peers on 127.0.0.x. */
export async function startHugePeerListNode(peerCount: number): Promise<FakeDhtNode> {
  const id = randomBytes(20);
  const socket: Socket = createSocket('udp4');
  const values: Buffer[] = [];
  for (let i = 0; i < peerCount; i++) {
    const p = Buffer.alloc(6);
    p[0] = 127;
    p.writeUIntBE(1 + (i % 0xfffe), 1, 3);
    p.writeUInt16BE(1024 + (i % 60_000), 4);
    values.push(Buffer.concat([Buffer.from('6:'), p]));
  }
  const body = Buffer.concat([
    Buffer.from('d1:rd2:id20:'),
    id,
    Buffer.from('5:token4:tokn6:valuesl'),
    ...values,
    Buffer.from('ee1:t'),
  ]);
  const node: FakeDhtNode = {
    id,
    port: 0,
    queries: 0,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
  socket.on('message', (msg, rinfo) => {
    const t = transactionId(msg);
    if (!t) return;
    node.queries++;
    const reply = Buffer.concat([body, Buffer.from(`${t.length}:`), t, Buffer.from('1:y1:re')]);
    socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, LOOPBACK, () => resolve()));
  node.port = socket.address().port;
  return node;
}
