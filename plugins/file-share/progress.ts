/**
 * The CLI's progress display for hashing (`share`) and downloads: bytes, percent,
 * rate, peers and time left. On a terminal one line is redrawn in place; otherwise
 * (a pipe, a log file) a plain line is printed every few seconds, so logs stay
 * readable. Pure formatting plus a small throttled writer; the clock is injectable.
 */

/** Redraws on a terminal at most this often. */
const TTY_REDRAW_MS = 100;
/** Plain lines (not a terminal) at most this often. */
const PLAIN_LINE_MS = 2_000;
/** Weight of the newest rate measurement in the smoothed rate. */
const RATE_SMOOTHING = 0.3;
/** Width of the bar itself, in characters, when the terminal is wide enough. */
const BAR_WIDTH = 24;
/** Terminal width assumed when the output does not tell. */
const DEFAULT_COLUMNS = 80;
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

/** Where the display goes: a TTY stream (process.stderr) or anything with `write`. */
export interface ProgressOutput {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(text: string): unknown;
}

export interface ProgressSample {
  bytes: number;
  size: number;
  /** Peers sending to us (downloads); omitted for hashing. */
  peers?: number;
  /** Bytes per second, when the source measures it; else the display derives it. */
  rate?: number;
}

export function formatBytes(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** `m:ss`, or `h:mm:ss` from an hour; `--:--` when unknown. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/**
 * One progress line: `label [#####.....]  45%  28.8 MiB/64.0 MiB  12.3 MiB/s  2 peers  ETA 0:03`.
 * The bar is dropped when `columns` is too narrow for it.
 */
export function formatProgress(label: string, sample: ProgressSample, rate: number, columns = DEFAULT_COLUMNS): string {
  const fraction = sample.size > 0 ? Math.min(1, sample.bytes / sample.size) : 1;
  const pct = `${String(Math.floor(fraction * 100)).padStart(3)}%`;
  const left = sample.size - sample.bytes;
  const eta = left <= 0 ? 'done' : `ETA ${formatDuration(rate > 0 ? left / rate : Number.NaN)}`;
  const parts = [pct, `${formatBytes(sample.bytes)}/${formatBytes(sample.size)}`, `${formatBytes(Math.round(rate))}/s`];
  if (sample.peers !== undefined) parts.push(`${sample.peers} ${sample.peers === 1 ? 'peer' : 'peers'}`);
  parts.push(eta);
  const tail = parts.join('  ');
  const filled = Math.round(fraction * BAR_WIDTH);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}]`;
  const withBar = `${label} ${bar} ${tail}`;
  return withBar.length < columns ? withBar : `${label} ${tail}`;
}

export interface ProgressBarOptions {
  /** @default Date.now */
  now?: () => number;
  /** Overrides the output's own `isTTY`. */
  tty?: boolean;
}

/** A throttled progress display on one output. Call `update` as often as you like, then `done`. */
export class ProgressBar {
  readonly #out: ProgressOutput;
  readonly #label: string;
  readonly #now: () => number;
  readonly #tty: boolean;
  #last: ProgressSample | null = null;
  #lastShown = Number.NEGATIVE_INFINITY;
  #rateAt: { t: number; bytes: number } | null = null;
  #rate = 0;
  #drawn = false;
  #finished = false;

  constructor(out: ProgressOutput, label: string, options: ProgressBarOptions = {}) {
    this.#out = out;
    this.#label = label;
    this.#now = options.now ?? Date.now;
    this.#tty = options.tty ?? out.isTTY === true;
  }

  /** Bytes per second as shown (the source's, or smoothed from the samples). */
  get rate(): number {
    return this.#rate;
  }

  update(sample: ProgressSample): void {
    if (this.#finished) return;
    const now = this.#now();
    this.#measure(sample, now);
    this.#last = sample;
    if (now - this.#lastShown < (this.#tty ? TTY_REDRAW_MS : PLAIN_LINE_MS)) return;
    this.#lastShown = now;
    this.#show(sample);
  }

  /** Shows the final state and ends the line. */
  done(sample?: ProgressSample): void {
    if (this.#finished) return;
    this.#finished = true;
    const last = sample ?? this.#last;
    if (sample) this.#measure(sample, this.#now());
    if (last) this.#show(last);
    if (this.#tty && this.#drawn) this.#out.write('\n');
  }

  #measure(sample: ProgressSample, now: number): void {
    if (sample.rate !== undefined) {
      this.#rate = sample.rate;
      return;
    }
    const prev = this.#rateAt;
    if (!prev) {
      this.#rateAt = { t: now, bytes: sample.bytes };
      return;
    }
    const dt = now - prev.t;
    if (dt < TTY_REDRAW_MS) return;
    const measured = ((sample.bytes - prev.bytes) * 1000) / dt;
    this.#rate = this.#rate === 0 ? measured : this.#rate + RATE_SMOOTHING * (measured - this.#rate);
    this.#rateAt = { t: now, bytes: sample.bytes };
  }

  #show(sample: ProgressSample): void {
    const line = formatProgress(this.#label, sample, this.#rate, this.#out.columns ?? DEFAULT_COLUMNS);
    // \r back to the start, \x1b[K clears what a longer earlier line left.
    if (this.#tty) this.#out.write(`\r${line}\x1b[K`);
    else this.#out.write(`${line}\n`);
    this.#drawn = true;
  }
}
