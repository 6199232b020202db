/**
 * A bounded map whose entries expire a fixed time after they were set. Every entry
 * has the same lifetime, so insertion order is expiry order and pruning only looks
 * at the head. When full, the oldest entry goes: a flood can push out old entries
 * but never grow memory.
 */
export class ExpiringMap<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Drop expired entries from the head. */
  prune(now: number): void {
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt > now) break;
      this.entries.delete(key);
    }
  }

  get(key: string, now: number): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  has(key: string, now: number): boolean {
    return this.get(key, now) !== undefined;
  }

  /** Set (or refresh) an entry; returns how many old entries were evicted to make room. */
  set(key: string, value: V, now: number): number {
    this.prune(now);
    // Re-inserting moves the key to the tail so insertion order stays expiry order.
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: now + this.ttlMs });
    let evicted = 0;
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
      evicted += 1;
    }
    return evicted;
  }

  delete(key: string): boolean {
    return this.entries.delete(key);
  }

  /** Remove every entry the predicate selects. */
  deleteWhere(predicate: (value: V, key: string) => boolean): void {
    for (const [key, entry] of this.entries) {
      if (predicate(entry.value, key)) this.entries.delete(key);
    }
  }

  clear(): void {
    this.entries.clear();
  }
}
