/** One figure of a benchmark, next to the reference measured in the same run. */
export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  /** The same quantity for the reference (raw TCP, TLS 1.3, raw crypto...). */
  reference?: { name: string; value: number };
  /** What we aim for, in words, e.g. ">= 0.8x raw TCP". */
  target?: string;
}

/** A benchmark module: `bench/<area>.ts` exports `run`. */
export interface BenchModule {
  run(): Promise<BenchRow[]>;
}
