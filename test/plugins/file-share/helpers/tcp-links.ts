/**
 * Real loopback TCP links between in-process file-share engines: per pair of
 * nodes, one socket carries chat messages (`u32 LE length ‖ message`, as the
 * chat layer would) and one carries the block stream. Used by the tests and
 * by bench/file-share.ts.
 */
import { createServer, connect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { PeerLink } from '../../../../plugins/file-share/engine.js';

/** What a link needs from a node: the engine itself, or an adapter over the plugin's service. */
export interface Linkable {
  readonly selfId: string;
  addPeer(link: PeerLink): void;
  handleMessage(peerId: string, message: Buffer): void | Promise<void>;
}

/** Largest message the framing accepts (one chat message). */
const MAX_FRAME = 65_536;

export interface TcpLinkPair {
  /** Closes both sockets of the pair (both engines see the peer leave). */
  close(): void;
  sockets: Socket[];
}

async function socketPair(): Promise<[Socket, Socket]> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const client = connect(port, '127.0.0.1');
  const [a] = await Promise.all([accepted, new Promise((resolve) => client.once('connect', resolve))]);
  server.close();
  a.setNoDelay(true);
  client.setNoDelay(true);
  return [a, client];
}

function readMessages(socket: Socket, onMessage: (m: Buffer) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    while (buf.length >= 4) {
      const n = buf.readUInt32LE(0);
      if (n > MAX_FRAME) {
        socket.destroy();
        return;
      }
      if (buf.length < 4 + n) break;
      onMessage(buf.subarray(4, 4 + n));
      buf = buf.subarray(4 + n);
    }
  });
}

/** Options of a link; `corruptBlocksFrom` makes one side's block data arrive damaged (a malicious member). */
export interface LinkOptions {
  corruptBlocksFrom?: 'a' | 'b';
  /** Chats the two nodes share (sets `PeerLink.chats` on both sides). */
  chats?: string[];
}

/** A block stream that flips one byte in every data chunk its owner writes (headers and refusals pass). */
function corrupting(socket: Socket): Duplex {
  const wrapped = new Duplex({
    write(chunk: Buffer, _encoding, callback) {
      const out = Buffer.from(chunk);
      if (out.length >= 1024) out[out.length >> 1]! ^= 0xff;
      socket.write(out, callback);
    },
    read() {},
  });
  socket.on('data', (d: Buffer) => wrapped.push(d));
  socket.on('close', () => wrapped.destroy());
  return wrapped;
}

function makeLink(peerId: string, msg: Socket, blocks: Duplex, chats?: string[]): PeerLink {
  return {
    peerId,
    ...(chats ? { chats: new Set(chats) } : {}),
    sendMessage(message) {
      if (msg.destroyed) return;
      const head = Buffer.alloc(4);
      head.writeUInt32LE(message.length, 0);
      // Messages of one tick leave in one write, as a chat session's record layer would batch them.
      if (msg.writableCorked === 0) {
        msg.cork();
        process.nextTick(() => msg.uncork());
      }
      msg.write(Buffer.concat([head, message]));
    },
    blocks,
    close() {
      msg.destroy();
      blocks.destroy();
    },
  };
}

/** Links two engines over two fresh loopback TCP connections. */
export async function linkEngines(a: Linkable, b: Linkable, options: LinkOptions = {}): Promise<TcpLinkPair> {
  const [msgA, msgB] = await socketPair();
  const [blkA, blkB] = await socketPair();
  const sockets = [msgA, msgB, blkA, blkB];
  for (const s of sockets) s.on('error', () => undefined);
  // Either side of a pair closing takes the whole link down, as a chat session would.
  const closeAll = (): void => sockets.forEach((s) => s.destroy());
  for (const s of sockets) s.on('close', closeAll);
  readMessages(msgA, (m) => void a.handleMessage(b.selfId, m));
  readMessages(msgB, (m) => void b.handleMessage(a.selfId, m));
  a.addPeer(makeLink(b.selfId, msgA, options.corruptBlocksFrom === 'a' ? corrupting(blkA) : blkA, options.chats));
  b.addPeer(makeLink(a.selfId, msgB, options.corruptBlocksFrom === 'b' ? corrupting(blkB) : blkB, options.chats));
  return { close: closeAll, sockets };
}

/** Links every pair of engines (a full mesh, like a chat network). */
export async function linkMesh(engines: Linkable[]): Promise<Map<string, TcpLinkPair>> {
  const pairs = new Map<string, TcpLinkPair>();
  for (let i = 0; i < engines.length; i++) {
    for (let j = i + 1; j < engines.length; j++) {
      pairs.set(`${engines[i]!.selfId}|${engines[j]!.selfId}`, await linkEngines(engines[i]!, engines[j]!));
    }
  }
  return pairs;
}
