import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import {
  CHANNEL_WINDOW,
  MAX_CHANNEL_WINDOW,
  RateGate,
  type VirtualChannel,
} from '../../../core/connection/index.js';
import { splice } from '../../../core/connection/splice.js';
import { Testnet, acceptAll, channelName, drain, endpointOf, once, waitFor, type TestNode } from './testnet.js';

/** Resolve once `read()` stops changing for `quietMs` (bounded by `ms`). */
async function settled(read: () => number, quietMs = 150, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  let last = read();
  let since = Date.now();
  while (Date.now() - since < quietMs) {
    if (Date.now() > deadline) throw new Error('never settled');
    await new Promise((r) => setTimeout(r, 10));
    const now = read();
    if (now !== last) [last, since] = [now, Date.now()];
  }
}

describe('connection/splice (a tunnel node hands frames on, credit passed through)', () => {
  const net = new Testnet();
  afterEach(() => net.stop());

  /**
   * A and B each open a plain channel to R, and R splices the two (as it does a tunnel's
   * two channels). Returns the ends at A and B, R's two channels and a done flag.
   */
  async function splicedPair(options: { bytesPerSecond?: number } = {}) {
    const [a, r, b] = [await net.node(), await net.node(), await net.node()];
    const atR: VirtualChannel[] = [];
    acceptAll(r, (ch) => atR.push(ch));
    const toR = (n: TestNode) => n.manager.connect(endpointOf(r));
    const [ca, cb] = [await toR(a), await toR(b)];
    const near = await ca.openChannel(channelName('near'));
    const far = await cb.openChannel(channelName('far'));
    await waitFor(() => atR.length === 2);
    const [nearAtR, farAtR] = atR[0]!.name.equals(near.name) ? [atR[0]!, atR[1]!] : [atR[1]!, atR[0]!];
    let done = 0;
    splice(nearAtR, farAtR, () => done++, options);
    return { a, r, b, near, far, nearAtR, farAtR, done: () => done };
  }

  it('carries both directions intact and ends cleanly: each end sees the other end, then both close', async () => {
    const { near, far, r, done } = await splicedPair();
    const up = randomBytes(3_000_000);
    const down = randomBytes(1_000_000);
    const [atFar, atNear] = [drain(far), drain(near)];
    near.end(up);
    far.end(down);
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    expect(await atFar).to.deep.equal({ bytes: up.length, sha256: sha(up) });
    expect(await atNear).to.deep.equal({ bytes: down.length, sha256: sha(down) });
    await waitFor(() => done() === 1);
    await waitFor(() => r.manager.connections.every((c) => c.channelCount === 0));
  });

  it('a slow reader at the far end holds the sender back: R holds at most the window it granted', async () => {
    const { near, far, farAtR } = await splicedPair();
    far.pause();
    const data = randomBytes(16 * 1024 * 1024);
    let accepted = 0;
    const chunk = 64 * 1024;
    // Write with back-pressure until the sender is held back for good.
    const writer = (async () => {
      for (let off = 0; off < data.length; off += chunk) {
        accepted += chunk;
        if (!near.write(data.subarray(off, off + chunk))) await once(near, 'drain');
      }
      near.end();
    })();
    await settled(() => near.stats.bytesOut + farAtR.queuedBytes);
    // The stalled reader keeps the initial window; R holds no more than what it granted
    // the sender; the sender sent no more than both.
    expect(far.readableLength).to.be.at.most(CHANNEL_WINDOW);
    expect(farAtR.queuedBytes).to.be.at.most(MAX_CHANNEL_WINDOW);
    expect(near.stats.bytesOut).to.be.at.most(CHANNEL_WINDOW + MAX_CHANNEL_WINDOW);
    expect(accepted).to.be.below(data.length);
    // Reading again lets everything through, in order.
    const got = drain(far);
    await writer;
    expect((await got).sha256).to.equal(createHash('sha256').update(data).digest('hex'));
  });

  it('an abort in the middle of a transfer closes the other side and frees every channel on R', async () => {
    const { near, far, nearAtR, farAtR, r, a, b, done } = await splicedPair();
    far.on('data', () => undefined);
    const farClosed = once(far, 'close');
    near.write(randomBytes(2_000_000));
    await waitFor(() => far.stats.bytesIn > 100_000);
    near.destroy();
    await farClosed;
    expect(far.readableEnded).to.equal(false);
    await waitFor(() => done() === 1);
    expect(nearAtR.destroyed && farAtR.destroyed).to.equal(true);
    for (const node of [a, r, b]) await waitFor(() => node.manager.connections.every((c) => c.channelCount === 0));
  });

  it('with a rate limit, still carries everything intact (credit comes back at the rate)', async () => {
    const { near, far, done } = await splicedPair({ bytesPerSecond: 8 * 1024 * 1024 });
    const data = randomBytes(600_000);
    const got = drain(far);
    near.end(data);
    expect((await got).sha256).to.equal(createHash('sha256').update(data).digest('hex'));
    far.end();
    await waitFor(() => done() === 1);
  });
});

describe('connection/splice RateGate', () => {
  it('owes what went through faster than the rate, paying it off as time passes', () => {
    let now = 1000;
    const gate = new RateGate(1000, () => now); // 1 byte per ms
    expect(gate.owed()).to.equal(0);
    gate.charge(500);
    expect(gate.owed()).to.equal(500);
    now += 200;
    expect(gate.owed()).to.equal(300);
    expect(gate.waitFor(100)).to.equal(100);
    // Waits are bounded both ways, so a tiny debt does not spin and a huge one is rechecked.
    expect(gate.waitFor(1)).to.equal(10);
    gate.charge(1_000_000);
    expect(gate.waitFor(1_000_000)).to.equal(250);
    now += 2_000_000;
    expect(gate.owed()).to.equal(0);
  });

  it('refuses a rate that is not positive', () => {
    expect(() => new RateGate(0)).to.throw(RangeError);
  });
});
