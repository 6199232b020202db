import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { hasCode } from '../../../core/errors.js';
import { SecureChatSession, STREAM_READ_BUFFER } from '../../../core/node/secure-session.js';
import { securePair } from '../../helpers/secure-pair.js';

const PSK = Buffer.alloc(32, 9);
/** Above what loopback socket buffers absorb while the reader (same event loop) cannot run, so the writer must wait. */
const TOTAL = 24 * 1024 * 1024;
const CHUNK = 250_000; // above one frame: the stream cuts it

/** Two secure chat sessions over a real loopback TCP connection. */
async function pair(): Promise<{ a: SecureChatSession; b: SecureChatSession; bChannel: Duplex; close(): void }> {
  const channels = await securePair(PSK);
  return {
    a: new SecureChatSession(channels.client, Buffer.alloc(20, 1), undefined),
    b: new SecureChatSession(channels.server, Buffer.alloc(20, 2), undefined),
    bChannel: channels.server,
    close: channels.close,
  };
}

/** Writes until a write is not drained within `quietMs` (the writer is held back) or `limit` bytes went out; returns the bytes written. */
async function writeUntilHeld(out: Duplex, data: Buffer, limit: number, quietMs: number): Promise<number> {
  let off = 0;
  while (off < limit) {
    const more = out.write(data.subarray(off, off + CHUNK));
    off += CHUNK;
    if (more) continue;
    const drained = await Promise.race([once(out, 'drain').then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), quietMs))]);
    if (!drained) return off;
  }
  return off;
}

describe('secure chat session: stream ports (file-share block streams)', function () {
  this.timeout(20_000);

  it('carries an ordered byte stream on a port beside chat messages, with write back-pressure, and ends with the session', async () => {
    const p = await pair();
    try {
      const { a, b } = p;
      const out = a.openStream(1);
      const inb = b.openStream(1);
      // Port 2 is open on neither reading side: its frames are counted and dropped.
      a.openStream(2).write(Buffer.from('nobody listens'));
      const data = randomBytes(TOTAL);
      const received: Buffer[] = [];
      let receivedBytes = 0;
      inb.on('data', (c: Buffer) => {
        received.push(c);
        receivedBytes += c.length;
      });
      const messages: string[] = [];
      b.on('message', (m: Buffer) => messages.push(m.toString()));
      let writes = 0;
      let heldBack = 0;
      for (let off = 0; off < TOTAL; off += CHUNK) {
        writes++;
        if (writes % 4 === 0) a.send(Buffer.from(`02msg ${writes}`));
        if (!out.write(data.subarray(off, off + CHUNK))) {
          heldBack++;
          await once(out, 'drain');
        }
      }
      for (let i = 0; i < 400 && receivedBytes < TOTAL; i++) {
        await new Promise((r) => setTimeout(r, 25));
      }
      expect(receivedBytes).to.equal(TOTAL);
      expect(createHash('sha256').update(Buffer.concat(received)).digest('hex')).to.equal(createHash('sha256').update(data).digest('hex'));
      expect(messages.length).to.equal(Math.floor(writes / 4));
      expect(b.stats.streamFrames).to.be.greaterThan(TOTAL / 0xffff);
      // The writer was held back (each chunk is above the stream's high-water mark).
      expect(heldBack).to.be.greaterThan(0);
      expect(out.writableLength).to.equal(0);

      expect(() => a.openStream(0)).to.throw().that.satisfies((e: unknown) => hasCode(e, 'ERR_NODE_BAD_FRAME'));
      expect(() => a.openStream(1)).to.throw().that.satisfies((e: unknown) => hasCode(e, 'ERR_NODE_BAD_FRAME'));

      const ended = once(inb, 'close');
      a.close();
      await ended;
      expect(inb.destroyed).to.equal(true);
      // Both ends' ports went with the session: nothing more can be written.
      expect(out.destroyed).to.equal(true);
      const late = await new Promise<Error | null | undefined>((resolve) => out.write(Buffer.from('late'), resolve));
      expect(late).to.be.instanceOf(Error);
    } finally {
      p.close();
    }
  });

  it('holds a fast sender back while the reader does not read: the receiver buffers a bounded amount, then gets every byte in order', async () => {
    const p = await pair();
    try {
      const { a, b, bChannel } = p;
      const out = a.openStream(1);
      const inb = b.openStream(1);
      const data = randomBytes(TOTAL);
      // Nobody reads `inb` yet: without flow control every byte would pile up in it.
      const sent = await writeUntilHeld(out, data, TOTAL, 400);
      expect(sent).to.be.lessThan(TOTAL);
      // What b holds: the port's buffer (a frame over its mark at most) and the paused channel's (one record over its mark).
      expect(inb.readableLength).to.be.at.most(STREAM_READ_BUFFER + 0xffff);
      expect(bChannel.readableLength).to.be.at.most(bChannel.readableHighWaterMark + 0x10000);
      // Chat messages of the session wait behind the stalled port, and arrive once it reads.
      const messages: string[] = [];
      b.on('message', (m: Buffer) => messages.push(m.toString()));
      a.send(Buffer.from('02after the stall'));

      const received: Buffer[] = [];
      let receivedBytes = 0;
      inb.on('data', (c: Buffer) => {
        received.push(c);
        receivedBytes += c.length;
      });
      for (let off = sent; off < TOTAL; off += CHUNK) {
        if (!out.write(data.subarray(off, off + CHUNK))) await once(out, 'drain');
      }
      for (let i = 0; i < 400 && (receivedBytes < TOTAL || messages.length === 0); i++) await new Promise((r) => setTimeout(r, 25));
      expect(receivedBytes).to.equal(TOTAL);
      expect(Buffer.concat(received).equals(data)).to.equal(true);
      expect(messages).to.deep.equal(['02after the stall']);
    } finally {
      p.close();
    }
  });
});
