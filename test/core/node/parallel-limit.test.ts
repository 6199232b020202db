import { expect } from 'chai';
import { ParallelLimit } from '../../../core/node/parallel-limit.js';

describe('node/parallel-limit', () => {
  it('lets `limit` holders through, queues the rest in arrival order, and a double release frees one slot only', async () => {
    const limit = new ParallelLimit(2);
    const order: number[] = [];
    const r1 = await limit.acquire();
    const r2 = await limit.acquire();
    const third = limit.acquire().then((r) => { order.push(3); return r; });
    const fourth = limit.acquire().then((r) => { order.push(4); return r; });
    await new Promise((r) => setImmediate(r));
    expect([limit.size, limit.pending, order.length]).to.deep.equal([2, 2, 0]);
    r1();
    r1();
    const r3 = await third;
    await new Promise((r) => setImmediate(r));
    expect([limit.size, limit.pending, order]).to.deep.equal([2, 1, [3]]);
    r2();
    const r4 = await fourth;
    expect(order).to.deep.equal([3, 4]);
    r3();
    r4();
    expect([limit.size, limit.pending]).to.deep.equal([0, 0]);
    expect(limit.stats).to.deep.equal({ acquired: 4, waited: 2 });
  });

  it('close() lets every waiter through at once', async () => {
    const limit = new ParallelLimit(1);
    await limit.acquire();
    const waiters = [limit.acquire(), limit.acquire()];
    limit.close();
    const releases = await Promise.all(waiters);
    expect(limit.size).to.equal(3);
    for (const r of releases) r();
    expect(() => new ParallelLimit(0)).to.throw(RangeError);
  });
});
