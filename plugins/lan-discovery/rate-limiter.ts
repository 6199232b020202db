/**
 * Token buckets: `ratePerSecond` tokens a second, holding at most one second's worth
 * (so a burst is at most `ratePerSecond`). Time is passed in, which keeps the buckets
 * pure and testable.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerSecond: number,
    now: number,
  ) {
    this.tokens = ratePerSecond;
    this.last = now;
  }

  /** Take one token; false when the bucket is empty. */
  take(now: number): boolean {
    const elapsed = Math.max(0, now - this.last);
    this.last = now;
    this.tokens = Math.min(this.ratePerSecond, this.tokens + (elapsed * this.ratePerSecond) / 1000);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * One bucket per key (a source address), at most `maxKeys` of them; the least recently
 * used key is forgotten first. A flood from many spoofed sources therefore costs
 * bounded memory; the global bucket that callers keep beside this one bounds the rate.
 */
export class KeyedRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly maxKeys: number,
  ) {}

  take(key: string, now: number): boolean {
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.ratePerSecond, now);
    } else {
      this.buckets.delete(key);
    }
    this.buckets.set(key, bucket);
    while (this.buckets.size > this.maxKeys) {
      const oldest = this.buckets.keys().next();
      if (oldest.done === true) break;
      this.buckets.delete(oldest.value);
    }
    return bucket.take(now);
  }

  clear(): void {
    this.buckets.clear();
  }
}
