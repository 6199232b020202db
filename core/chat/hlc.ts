/**
 * Hybrid logical clock (Kulkarni et al., 2014) for chat messages (DESIGN §2b).
 *
 * A timestamp is (wallMs, counter): wallMs follows the local clock when it moves
 * forward, counter orders events within one millisecond and across peers whose clocks
 * disagree. Every local event is greater than every event it has seen, so ordering
 * by (wallMs, counter, messageId) respects causality within and across senders.
 *
 * Caps instead of overflows: the counter is a u16 on the wire; when it would pass
 * 0xFFFF the clock moves wallMs forward by one instead. A remote timestamp more than
 * MAX_FORWARD_DRIFT_MS ahead of our clock is not adopted (one peer with a wrong clock
 * must not drag every other clock into the future); the caller still stores it.
 */

/** A remote clock this far ahead of ours is not adopted (one day; certificates allow 2 h of skew). */
export const MAX_FORWARD_DRIFT_MS = 24 * 60 * 60 * 1000;
export const MAX_COUNTER = 0xffff;
/** wallMs is carried as i64 on the wire but must stay a safe integer here. */
export const MAX_WALL_MS = Number.MAX_SAFE_INTEGER;

export interface Hlc {
  /** Milliseconds since the Unix epoch (the sender's view, corrected by what it has seen). */
  wallMs: number;
  /** 0..0xFFFF: order within one wallMs. */
  counter: number;
}

/** Negative, zero or positive like a sort comparator. */
export function compareHlc(a: Hlc, b: Hlc): number {
  return a.wallMs !== b.wallMs ? (a.wallMs < b.wallMs ? -1 : 1) : a.counter - b.counter;
}

export function isValidHlc(t: Hlc): boolean {
  return Number.isSafeInteger(t.wallMs) && t.wallMs >= 0 && Number.isInteger(t.counter) && t.counter >= 0 && t.counter <= MAX_COUNTER;
}

export class HybridLogicalClock {
  private last: Hlc = { wallMs: 0, counter: 0 };
  readonly stats = { ticks: 0, remoteUpdates: 0, remoteRejected: 0, counterOverflows: 0 };

  /** @param clock source of physical time; injectable so tests control it. */
  constructor(private readonly clock: () => number = Date.now) {}

  /** The last timestamp issued or adopted. */
  peek(): Hlc {
    return { ...this.last };
  }

  /** A timestamp for a local event (sending a message). */
  now(): Hlc {
    this.stats.ticks++;
    const pt = Math.floor(this.clock());
    if (pt > this.last.wallMs) this.last = { wallMs: pt, counter: 0 };
    else this.bump(this.last.wallMs, this.last.counter);
    return { ...this.last };
  }

  /**
   * Merge a timestamp received from a peer; returns the timestamp of the receive event.
   * A remote timestamp too far in the future (or malformed) is not adopted.
   */
  update(remote: Hlc): Hlc {
    const pt = Math.floor(this.clock());
    if (!isValidHlc(remote) || remote.wallMs > pt + MAX_FORWARD_DRIFT_MS) {
      this.stats.remoteRejected++;
      return this.now();
    }
    this.stats.remoteUpdates++;
    const wall = Math.max(pt, this.last.wallMs, remote.wallMs);
    if (wall === this.last.wallMs && wall === remote.wallMs) this.bump(wall, Math.max(this.last.counter, remote.counter));
    else if (wall === this.last.wallMs) this.bump(wall, this.last.counter);
    else if (wall === remote.wallMs) this.bump(wall, remote.counter);
    else this.last = { wallMs: wall, counter: 0 };
    return { ...this.last };
  }

  private bump(wall: number, counter: number): void {
    if (counter >= MAX_COUNTER) {
      // Overflowing the u16 would wrap and break ordering: borrow the next millisecond.
      this.stats.counterOverflows++;
      this.last = { wallMs: wall + 1, counter: 0 };
    } else {
      this.last = { wallMs: wall, counter: counter + 1 };
    }
  }
}
