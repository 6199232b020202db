/**
 * At most `limit` holders at once; the rest wait in arrival order. `acquire()`
 * resolves with a release function (safe to call twice). `close()` lets every
 * waiter through at once so that callers can see their owner stopped and give up.
 */
export class ParallelLimit {
  readonly stats = { acquired: 0, waited: 0 };
  private active = 0;
  private closed = false;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError('limit must be an integer >= 1');
  }

  /** Holders now. */
  get size(): number {
    return this.active;
  }

  /** Waiters now. */
  get pending(): number {
    return this.waiting.length;
  }

  async acquire(): Promise<() => void> {
    if (this.active >= this.limit && !this.closed) {
      this.stats.waited++;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.active++;
    this.stats.acquired++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      if (!this.closed) this.waiting.shift()?.();
    };
  }

  close(): void {
    this.closed = true;
    for (const wake of this.waiting.splice(0)) wake();
  }
}
