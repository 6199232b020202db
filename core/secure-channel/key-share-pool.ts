/**
 * Ephemeral key shares made ahead of time, so a handshake does not wait for key
 * generation (DHE-2048 costs ~0.4 ms per share here, X25519 ~0.07 ms, P-256 ~0.04 ms,
 * and a client makes one share per offered suite).
 *
 * Forward secrecy and one-use stay absolute: a share leaves the pool exactly once
 * (`take` removes it before returning it) and nothing ever puts a share back; a share
 * whose public half went out in a hello is dropped with its channel whether it was used
 * or not. A pooled share protects no data until it is taken, so its age does not weaken
 * forward secrecy; the private key is gone with the channel as before.
 *
 * Refilling runs on an unref'd timer a little after shares were taken (after the
 * handshake that took them, when the node is idle), one share per timer turn so the
 * event loop is never held for long, and only for suites that were asked for at least
 * once. The timer never keeps the process alive.
 */
import { SC_ERROR, SecureChannelError } from './errors.js';
import { createKeyShare, isSuiteId, type KeyShare, type SuiteId } from './suites.js';

/** Shares kept per suite: a burst of this many handshakes finds them ready. */
export const DEFAULT_SHARES_PER_SUITE = 4;
/** Delay before refilling after a take: a handshake takes ~10 ms, so the refill runs after it. */
export const DEFAULT_REFILL_DELAY_MS = 25;

export interface KeySharePoolOptions {
  /** @default DEFAULT_SHARES_PER_SUITE; 0 turns the pool off (every share made on demand). */
  sharesPerSuite?: number;
  /** @default DEFAULT_REFILL_DELAY_MS */
  refillDelayMs?: number;
}

export interface KeySharePoolStats {
  /** Shares handed out. */
  taken: number;
  /** ... of which came from the pool. */
  fromPool: number;
  /** ... of which were made on demand (pool empty or off). */
  madeOnDemand: number;
  /** Shares made ahead of time. */
  madeAhead: number;
}

export class KeySharePool {
  readonly stats: KeySharePoolStats = { taken: 0, fromPool: 0, madeOnDemand: 0, madeAhead: 0 };
  private readonly target: number;
  private readonly delayMs: number;
  /** Per suite asked for so far: the shares made ahead, oldest first. */
  private readonly ready = new Map<SuiteId, KeyShare[]>();
  private timer: NodeJS.Timeout | null = null;

  constructor(options: KeySharePoolOptions = {}) {
    const target = options.sharesPerSuite ?? DEFAULT_SHARES_PER_SUITE;
    const delay = options.refillDelayMs ?? DEFAULT_REFILL_DELAY_MS;
    if (!Number.isInteger(target) || target < 0) throw new SecureChannelError(SC_ERROR.OPTIONS, 'sharesPerSuite must be a whole number >= 0');
    if (!Number.isFinite(delay) || delay < 0) throw new SecureChannelError(SC_ERROR.OPTIONS, 'refillDelayMs must be a number >= 0');
    this.target = target;
    this.delayMs = delay;
  }

  /** Shares ready for `suite` now. */
  size(suite: SuiteId): number {
    return this.ready.get(suite)?.length ?? 0;
  }

  /** A fresh share for `suite`, never handed out before: from the pool when one is ready, else made now. */
  take(suite: SuiteId): KeyShare {
    if (!isSuiteId(suite)) throw new SecureChannelError(SC_ERROR.INTERNAL, `no key share for suite ${String(suite)}`);
    this.stats.taken++;
    let queue = this.ready.get(suite);
    if (queue === undefined && this.target > 0) this.ready.set(suite, (queue = []));
    const pooled = queue?.shift();
    this.scheduleRefill();
    if (pooled !== undefined) {
      this.stats.fromPool++;
      return pooled;
    }
    this.stats.madeOnDemand++;
    return createKeyShare(suite);
  }

  /** Makes every missing share now (synchronously). For callers that know they are idle, e.g. a benchmark between handshakes. */
  fill(): void {
    while (this.refillOne());
  }

  /** Drops every share made ahead and the pending refill (nothing is kept alive). */
  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.ready.clear();
  }

  private scheduleRefill(): void {
    if (this.timer !== null || this.target === 0) return;
    this.timer = setTimeout(this.onTimer, this.delayMs);
    this.timer.unref();
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    if (this.refillOne()) this.scheduleRefillNext();
  };

  /** The next share comes on the next timer turn, so other work runs in between. */
  private scheduleRefillNext(): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(this.onTimer, 0);
    this.timer.unref();
  }

  /** Makes one share for the emptiest suite asked for; false when all are full. */
  private refillOne(): boolean {
    let neediest: [SuiteId, KeyShare[]] | undefined;
    for (const entry of this.ready) if (entry[1].length < this.target && (!neediest || entry[1].length < neediest[1].length)) neediest = entry;
    if (!neediest) return false;
    neediest[1].push(createKeyShare(neediest[0]));
    this.stats.madeAhead++;
    return true;
  }
}

/**
 * The process's pool, shared by every channel (and every node) in it. Sharing is safe
 * where other state would not be (several nodes run in one process): a share carries
 * nothing node-specific and is handed out once, to one channel.
 */
export const keySharePool = new KeySharePool();
