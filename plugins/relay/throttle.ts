/**
 * A byte-rate limit for one direction of a relayed tunnel: a token bucket that
 * holds back the next chunk (and so, through back-pressure, the sender) once the
 * burst allowance is spent. Flow control stays end to end: nothing is dropped.
 */
import { Transform, type TransformCallback } from 'node:stream';

/** Up to this much time's worth of bytes may pass at once after a quiet period. */
const BURST_MS = 250;

export class ByteRateLimit extends Transform {
  private readonly bytesPerMs: number;
  /** When the bytes let through so far have "paid" for themselves at the rate. */
  private readyAt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(bytesPerSecond: number) {
    super();
    if (!(bytesPerSecond > 0)) throw new RangeError('bytesPerSecond must be > 0');
    this.bytesPerMs = bytesPerSecond / 1000;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const now = Date.now();
    this.readyAt = Math.max(this.readyAt, now - BURST_MS) + chunk.length / this.bytesPerMs;
    const wait = this.readyAt - now;
    if (wait <= 0) {
      callback(null, chunk);
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      callback(null, chunk);
    }, Math.ceil(wait));
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    callback(error);
  }
}
