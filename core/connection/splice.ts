/**
 * Splicing two channels at a tunnel node (R in PROTOCOL.md §1.8), without Node stream
 * pipes: each frame that arrives on one channel is queued for sending on the other in
 * the same call, and the sender gets credit back only once R has sent those bytes on
 * (and, under a rate limit, once the rate has paid for them). So R never holds more
 * than the window it granted per direction, a slow reader at the far end holds the
 * sender back through both hops, and nothing is ever dropped.
 */
import type { VirtualChannel } from './channel.js';

/** Smallest wait between two credit checks of a rate-limited direction (ms). */
const MIN_GATE_WAIT_MS = 10;
/** Longest wait between them: credit comes back in steps of at most this much time's worth. */
const MAX_GATE_WAIT_MS = 250;

/** How a tunnel node splices one tunnel (a {@link TunnelPolicy}'s answer, without the refusal). */
export interface SpliceOptions {
  /** Byte rate per direction; 0 or absent = unlimited. */
  bytesPerSecond?: number;
  /**
   * Sees each piece passing through (toFar: requester to target) and returns what to
   * pass on instead (same or other bytes). For inspection and tests; bytes only,
   * never framing.
   */
  inspect?: (data: Buffer, toFar: boolean) => Buffer;
}

/**
 * Bytes sent on faster than the rate allows: the debt pays itself off at the rate, and
 * credit for it is held back until then. Time comes from `now` (tests pass a clock).
 */
export class RateGate {
  private readonly bytesPerMs: number;
  private debt = 0;
  private since: number;

  constructor(bytesPerSecond: number, private readonly now: () => number = Date.now) {
    if (!(bytesPerSecond > 0)) throw new RangeError('bytesPerSecond must be > 0');
    this.bytesPerMs = bytesPerSecond / 1000;
    this.since = now();
  }

  /** `bytes` went through. */
  charge(bytes: number): void {
    this.owed();
    this.debt += bytes;
  }

  /** Bytes the rate has not paid for yet. */
  owed(): number {
    const t = this.now();
    this.debt = Math.max(0, this.debt - (t - this.since) * this.bytesPerMs);
    this.since = t;
    return this.debt;
  }

  /** Milliseconds until `bytes` more of the debt are paid (bounded, see the constants). */
  waitFor(bytes: number): number {
    const ms = Math.ceil(Math.min(bytes, this.owed()) / this.bytesPerMs);
    return Math.min(MAX_GATE_WAIT_MS, Math.max(MIN_GATE_WAIT_MS, ms));
  }
}

/** One direction of a splice: bytes arriving on `from` are sent on `to`. */
class SpliceDirection {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly from: VirtualChannel,
    private readonly to: VirtualChannel,
    private readonly gate: RateGate | undefined,
    private readonly inspect: ((data: Buffer) => Buffer) | undefined,
  ) {}

  start(): void {
    // Credit for `from` follows what `to` still has to send (and the rate's debt).
    this.to.onFrameSent(this.onSent);
    this.from.divert({ deliver: this.deliver, held: this.held });
    // `from` ended cleanly: `to` ends after the bytes already queued.
    this.from.once('end', () => this.to.end());
    this.from.resume();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private readonly deliver = (data: Buffer, more: boolean): void => {
    const bytes = this.inspect ? this.inspect(data) : data;
    this.gate?.charge(bytes.length);
    // A frame that came in pieces goes on whole: the last piece lets `to` cut it.
    this.to.sendRaw(bytes, !more);
  };

  private readonly held = (): number => {
    const owed = this.gate ? this.gate.owed() : 0;
    if (owed > 0 && !this.timer) this.timer = setTimeout(this.onTimer, this.gate!.waitFor(owed));
    return this.to.queuedBytes + owed;
  };

  private readonly onSent = (): void => this.from.refreshCredit();

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.from.refreshCredit();
  };
}

/**
 * Splice two channels into each other. A side that closed cleanly (both directions
 * ended) lets the other finish delivering; an aborted side aborts the other.
 * `onDone` runs once both are closed.
 */
export function splice(a: VirtualChannel, b: VirtualChannel, onDone: () => void, options: SpliceOptions = {}): void {
  const rate = options.bytesPerSecond ?? 0;
  const inspect = options.inspect;
  const directions = [
    new SpliceDirection(a, b, rate > 0 ? new RateGate(rate) : undefined, inspect && ((d) => inspect(d, true))),
    new SpliceDirection(b, a, rate > 0 ? new RateGate(rate) : undefined, inspect && ((d) => inspect(d, false))),
  ];
  let closed = 0;
  const watch = (self: VirtualChannel, other: VirtualChannel): void => {
    self.once('close', () => {
      if (!(self.readableEnded && self.writableFinished)) other.destroy();
      if (++closed === 2) {
        for (const d of directions) d.stop();
        onDone();
      }
    });
  };
  watch(a, b);
  watch(b, a);
  for (const d of directions) d.start();
}
