import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { CHANNEL_WINDOW, MAX_CHANNEL_WINDOW, WRITE_FRAME_DATA, type Connection, type VirtualChannel } from '../../../core/connection/index.js';
import { Testnet, channelName, drain, endpointOf, once, waitFor } from './testnet.js';

describe('connection/virtual channels', () => {
  const net = new Testnet();
  afterEach(() => net.stop());

  async function pair(): Promise<{ open: (label: string) => Promise<[VirtualChannel, VirtualChannel]>; link: () => Connection }> {
    const a = await net.node();
    const b = await net.node();
    const inbound = new Map<string, VirtualChannel>();
    b.manager.onChannel((req) => inbound.set(req.name.toString('hex'), req.accept()));
    const connection = await a.manager.connect(endpointOf(b));
    return {
      link: () => connection,
      open: async (label) => {
        const name = channelName(label);
        const local = await a.manager.openChannel(b.manager.peerId, name);
        await waitFor(() => inbound.has(name.toString('hex')));
        return [local, inbound.get(name.toString('hex'))!];
      },
    };
  }

  it('a writer waiting for drain gets full frames: the tail of each write waits for the next (no runt frame per write)', async () => {
    const { open, link } = await pair();
    const [out, inn] = await open('tails');
    // Writes above the high-water mark (each waits for drain), not a multiple of a frame.
    const size = 100_000;
    const data = randomBytes(size * 40);
    const got = drain(inn);
    const frames0 = link().stats.framesOut;
    for (let off = 0; off < data.length; off += size) {
      if (!out.write(data.subarray(off, off + size))) await once(out, 'drain');
    }
    out.end();
    expect((await got).sha256).to.equal(createHash('sha256').update(data).digest('hex'));
    const dataFrames = Math.ceil(data.length / WRITE_FRAME_DATA);
    // Data frames, the CHANNEL_END and a few window updates; a runt per write would add 40.
    expect(link().stats.framesOut - frames0).to.be.within(dataFrames, dataFrames + 10);
  });

  it('carries 8 channels at once without losing or reordering a byte', async () => {
    const { open } = await pair();
    const jobs = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const [out, inn] = await open(`bulk${i}`);
        const data = randomBytes(400_000 + i * 1000);
        const got = drain(inn);
        for (let off = 0; off < data.length; off += 50_000) out.write(data.subarray(off, off + 50_000));
        out.end();
        return { want: createHash('sha256').update(data).digest('hex'), got: await got };
      }),
    );
    for (const job of jobs) expect(job.got.sha256).to.equal(job.want);
  });

  it('a reader that never reads stalls only its own channel, and buffers at most one window', async () => {
    const { open } = await pair();
    const [slowOut, slowIn] = await open('slow');
    const [fastOut, fastIn] = await open('fast');
    slowIn.pause();
    const block = Buffer.alloc(64 * 1024, 1);
    let slowWritten = 0;
    // Keep writing to the stalled channel while the other one moves 4 MiB.
    const fill = (): void => {
      let more = true;
      while (more) {
        more = slowOut.write(block);
        slowWritten += block.length;
      }
    };
    fill();
    slowOut.on('drain', fill);
    const fastDone = drain(fastIn);
    const fastData = Buffer.alloc(4 * 1024 * 1024, 2);
    fastOut.end(fastData);
    expect((await fastDone).bytes).to.equal(fastData.length);
    // The stalled receiver holds at most one window; the sender stops at its buffer.
    expect(slowIn.readableLength).to.be.at.most(CHANNEL_WINDOW);
    expect(slowOut.stats.bytesOut).to.be.at.most(CHANNEL_WINDOW);
    expect(slowOut.writableLength).to.be.at.most(slowOut.writableHighWaterMark + block.length);
    // Once the reader reads, everything written arrives.
    slowOut.off('drain', fill);
    slowOut.end();
    const slowDone = drain(slowIn);
    expect((await slowDone).bytes).to.equal(slowWritten);
  });

  it('a reader that keeps up earns a grown window; once it stops, the receiver holds at most that', async () => {
    const { open } = await pair();
    const [out, inn] = await open('grown');
    const block = Buffer.alloc(64 * 1024, 3);
    let received = 0;
    inn.on('data', (chunk: Buffer) => (received += chunk.length));
    const fill = (): void => {
      while (out.write(block));
    };
    out.on('drain', fill);
    fill();
    // While the reader keeps up, more than the initial window is in flight at times.
    await waitFor(() => received >= 8 * MAX_CHANNEL_WINDOW);
    inn.pause();
    // Wait until everything the sender may send has arrived (it stops when its credit is spent).
    await waitFor(() => inn.readableLength > 0 && out.stats.bytesOut === received + inn.readableLength);
    await new Promise((r) => setTimeout(r, 100));
    expect(out.stats.bytesOut).to.equal(received + inn.readableLength);
    // The last grant was for a grown window (more than 3/4 of it was still open when the
    // reader stopped); no grant follows while the reader is stalled.
    expect(inn.readableLength).to.be.above(CHANNEL_WINDOW);
    expect(inn.readableLength).to.be.at.most(MAX_CHANNEL_WINDOW);
    out.off('drain', fill);
    out.destroy();
  });

  it('writes made together share frames, and CHANNEL_END waits for the last queued byte', async () => {
    const { open, link } = await pair();
    const [out, inn] = await open('packed');
    const got = drain(inn);
    const before = link().stats.framesOut;
    out.cork();
    for (let i = 0; i < 100; i++) out.write(Buffer.alloc(100, i));
    out.uncork();
    // 64 KiB more in 1,000-byte writes, ending the channel while most of it is queued.
    for (let i = 0; i < 64; i++) out.write(Buffer.alloc(1024, i));
    out.end();
    const result = await got;
    expect(result.bytes).to.equal(100 * 100 + 64 * 1024);
    // All of it in full frames (the writes share them), then CHANNEL_END (maybe a credit update).
    const frames = Math.ceil(result.bytes / WRITE_FRAME_DATA) + 1;
    expect(link().stats.framesOut - before).to.be.within(frames, frames + 1);
  });

  it('half-closes: each side ends its direction and still reads the other', async () => {
    const { open } = await pair();
    const [out, inn] = await open('half');
    out.end(Buffer.from('request'));
    const request = await drain(inn);
    expect(request.bytes).to.equal(7);
    const reply = drain(out);
    inn.end(Buffer.from('reply!'));
    expect((await reply).bytes).to.equal(6);
    await waitFor(() => out.destroyed && inn.destroyed);
  });

  it('an abort on one side closes the other without an error event', async () => {
    const { open } = await pair();
    const [out, inn] = await open('abort');
    let errors = 0;
    inn.on('error', () => errors++);
    const closed = once(inn, 'close');
    out.destroy();
    await closed;
    expect(errors).to.equal(0);
    expect(inn.destroyed).to.equal(true);
  });
});
