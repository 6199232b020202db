import { expect } from 'chai';
import { compareHlc, HybridLogicalClock, MAX_COUNTER, MAX_FORWARD_DRIFT_MS } from '../../../core/chat/hlc.js';

describe('chat/hlc', () => {
  it('follows the wall clock and orders events within one millisecond by counter', () => {
    let t = 1000;
    const c = new HybridLogicalClock(() => t);
    expect(c.now()).to.deep.equal({ wallMs: 1000, counter: 0 });
    expect(c.now()).to.deep.equal({ wallMs: 1000, counter: 1 });
    t = 999; // the clock stepped back: time must not
    expect(c.now()).to.deep.equal({ wallMs: 1000, counter: 2 });
    t = 1005;
    expect(c.now()).to.deep.equal({ wallMs: 1005, counter: 0 });
  });

  it('a receive event is after the remote send event and after every local event', () => {
    let t = 1000;
    const a = new HybridLogicalClock(() => t);
    const b = new HybridLogicalClock(() => t - 500); // b's clock is late
    const sent = a.now();
    const received = b.update(sent);
    expect(compareHlc(received, sent)).to.be.greaterThan(0);
    const reply = b.now();
    expect(compareHlc(reply, sent)).to.be.greaterThan(0);
    t = 1000;
    const back = a.update(reply);
    expect(compareHlc(back, reply)).to.be.greaterThan(0);
  });

  it('does not adopt a remote clock too far in the future', () => {
    const c = new HybridLogicalClock(() => 1000);
    const r = c.update({ wallMs: 1000 + MAX_FORWARD_DRIFT_MS + 1, counter: 0 });
    expect(r.wallMs).to.equal(1000);
    expect(c.stats.remoteRejected).to.equal(1);
    expect(c.update({ wallMs: -1, counter: 0 }).wallMs).to.equal(1000);
  });

  it('borrows the next millisecond instead of overflowing the u16 counter', () => {
    const c = new HybridLogicalClock(() => 5);
    const r = c.update({ wallMs: 5, counter: MAX_COUNTER });
    expect(r).to.deep.equal({ wallMs: 6, counter: 0 });
    let last = r;
    let disorders = 0;
    for (let i = 0; i < MAX_COUNTER + 10; i++) {
      const n = c.now();
      if (compareHlc(n, last) <= 0 || n.counter > MAX_COUNTER) disorders++;
      last = n;
    }
    expect(disorders).to.equal(0);
    expect(c.stats.counterOverflows).to.be.greaterThan(1);
  });
});
