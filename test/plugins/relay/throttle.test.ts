import { expect } from 'chai';
import { ByteRateLimit } from '../../../plugins/relay/throttle.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('plugins/relay ByteRateLimit', () => {
  it('lets a burst through at once and holds back what exceeds it, dropping nothing', async () => {
    // 1000 B/s: the burst allowance is 250 B; 10 kB would take 10 s.
    const limit = new ByteRateLimit(1000);
    const out: Buffer[] = [];
    limit.on('data', (d: Buffer) => out.push(d));
    limit.write(Buffer.alloc(100, 1));
    await tick();
    expect(Buffer.concat(out).length).to.equal(100);
    limit.write(Buffer.alloc(10_000, 2));
    limit.write(Buffer.alloc(10, 3));
    await tick();
    await tick();
    expect(Buffer.concat(out).length).to.equal(100);
    // Held bytes wait on a timer that destroy clears (no timer left behind).
    limit.destroy();
    await tick();
    expect(limit.destroyed).to.equal(true);
  });

  it('passes everything, in order, when under the rate', async () => {
    const limit = new ByteRateLimit(100 * 1024 * 1024);
    const chunks = Array.from({ length: 50 }, (_, i) => Buffer.alloc(1000, i));
    const out: Buffer[] = [];
    limit.on('data', (d: Buffer) => out.push(d));
    const ended = new Promise((r) => limit.once('end', r));
    for (const c of chunks) limit.write(c);
    limit.end();
    await ended;
    expect(Buffer.concat(out).equals(Buffer.concat(chunks))).to.equal(true);
  });

  it('refuses a rate that is not positive', () => {
    expect(() => new ByteRateLimit(0)).to.throw(RangeError);
  });
});
