/**
 * Hostile trackers on loopback: an HTTP and a UDP "tracker" that answer every
 * announce with bad input chosen per test (garbage, bencode bombs, length lies,
 * huge peer lists, odd-sized compact lists). Each counts the requests it saw.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { createServer, type Server } from 'node:http';

const LOOPBACK = '127.0.0.1';

export type HttpMode =
  | 'garbage'
  | 'bomb'
  | 'length-lie'
  | 'huge-peers'
  | 'odd-peers'
  | 'failure'
  | 'peers6'
  | 'not-a-dict'
  | 'dict-peers'
  | 'oversized'
  | 'oversized-chunked';
export type UdpMode = 'garbage-announce' | 'huge-peers' | 'short' | 'wrong-transaction';

/** `count` compact IPv4 peers on 127.0.0.x (allowed in tests, so only the cap can stop them). */
export function compactPeers(count: number): Buffer {
  const out = Buffer.alloc(count * 6);
  for (let i = 0; i < count; i++) {
    out[i * 6] = 127;
    out.writeUIntBE(1 + (i % 0xfffe), i * 6 + 1, 3);
    out.writeUInt16BE(1024 + (i % 60_000), i * 6 + 4);
  }
  return out;
}

function bstr(b: Buffer | string): Buffer {
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b);
  return Buffer.concat([Buffer.from(`${buf.length}:`), buf]);
}

/** A well-formed announce response; `peers6` entries are 18 bytes each (BEP 7). */
export function announceBody(peers: Buffer, peers6?: Buffer): Buffer {
  const parts = [Buffer.from('d8:intervali1800e12:min intervali60e'), bstr('peers'), bstr(peers)];
  if (peers6) parts.push(bstr('peers6'), bstr(peers6));
  parts.push(Buffer.from('e'));
  return Buffer.concat(parts);
}

function httpBody(mode: HttpMode): Buffer {
  switch (mode) {
    case 'garbage':
      return randomBytes(512);
    case 'bomb':
      return Buffer.from('l'.repeat(200_000) + 'e'.repeat(200_000));
    case 'length-lie':
      return Buffer.from('d5:peers999999999:abce');
    case 'huge-peers':
      return announceBody(compactPeers(20_000));
    case 'odd-peers':
      return announceBody(Buffer.concat([compactPeers(3), Buffer.from([1, 2, 3])]));
    case 'failure':
      return Buffer.from('d14:failure reason9:go away!e');
    case 'not-a-dict':
      return Buffer.from('i42e');
    case 'dict-peers':
      // The non-compact form: a list of {ip, port} (plus entries that must be skipped).
      return Buffer.from(
        'd8:intervali1800e5:peersl' +
          'd2:ip9:127.0.0.14:porti7101ee' +
          'd2:ip11:2001:db8::54:porti7102ee' +
          'd2:ip11:example.org4:porti7103ee' +
          'd2:ip9:127.0.0.14:porti99999ee' +
          'i5e' +
          'ee',
      );
    case 'oversized':
    case 'oversized-chunked':
      return announceBody(compactPeers(200_000)); // 1.2 MB
    case 'peers6': {
      const v6 = Buffer.alloc(36);
      Buffer.from('20010db8000000000000000000000001', 'hex').copy(v6, 0);
      v6.writeUInt16BE(7001, 16);
      v6[18 + 15] = 1; // ::1
      v6.writeUInt16BE(7002, 34);
      return announceBody(compactPeers(1), v6);
    }
  }
}

export interface HostileTracker {
  url: string;
  requests: number;
  /** Path and query of every HTTP request, and its headers (HTTP trackers only). */
  seen: Array<{ url: string; headers: Record<string, string | string[] | undefined> }>;
  close(): Promise<void>;
}

export async function startHostileHttpTracker(mode: HttpMode): Promise<HostileTracker> {
  const server: Server = createServer((req, res) => {
    tracker.requests++;
    if (tracker.seen.length < 100) tracker.seen.push({ url: req.url ?? '', headers: req.headers });
    const body = httpBody(mode);
    if (mode === 'oversized-chunked') {
      // No content-length: the client must stop reading by itself.
      res.writeHead(200, { 'content-type': 'text/plain' });
      for (let i = 0; i < body.length; i += 64 * 1024) res.write(body.subarray(i, i + 64 * 1024));
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain', connection: 'close', 'content-length': body.length });
    res.end(body);
  });
  server.on('clientError', () => {});
  const tracker: HostileTracker = {
    url: '',
    requests: 0,
    seen: [],
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, () => resolve()));
  tracker.url = `http://${LOOPBACK}:${(server.address() as { port: number }).port}/announce`;
  return tracker;
}

/** A UDP tracker that does the BEP 15 connect step properly, then misbehaves on announce. */
export async function startHostileUdpTracker(mode: UdpMode): Promise<HostileTracker> {
  const socket = createSocket('udp4');
  const tracker: HostileTracker = {
    url: '',
    requests: 0,
    seen: [],
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
  socket.on('message', (msg, rinfo) => {
    if (msg.length < 16) return;
    tracker.requests++;
    const action = msg.readUInt32BE(8);
    const tid = msg.subarray(12, 16);
    if (action === 0) {
      const reply = Buffer.alloc(16);
      tid.copy(reply, 4);
      randomBytes(8).copy(reply, 8);
      socket.send(reply, rinfo.port, rinfo.address);
      return;
    }
    let reply: Buffer;
    if (mode === 'short') {
      reply = Buffer.concat([Buffer.from([0, 0, 0, 1]), tid, Buffer.alloc(4)]);
    } else if (mode === 'wrong-transaction') {
      reply = Buffer.concat([Buffer.from([0, 0, 0, 1]), randomBytes(4), Buffer.alloc(12)]);
    } else {
      const head = Buffer.alloc(20);
      head.writeUInt32BE(1, 0);
      tid.copy(head, 4);
      head.writeUInt32BE(1800, 8);
      reply = Buffer.concat([head, mode === 'huge-peers' ? compactPeers(10_000) : randomBytes(61)]);
    }
    socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, LOOPBACK, () => resolve()));
  tracker.url = `udp://${LOOPBACK}:${socket.address().port}`;
  return tracker;
}
