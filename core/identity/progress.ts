import { PROGRESS_INTERVAL_MS } from './constants.js';

/** What a long step reports while it runs (the CLI draws a spinner or a line from it). */
export interface ProgressEvent {
  phase: 'keygen' | 'kdf';
  state: 'start' | 'tick' | 'done';
  elapsedMs: number;
}

export type ProgressHook = (event: ProgressEvent) => void;

/**
 * Runs `work` and reports start, a tick every PROGRESS_INTERVAL_MS and done.
 * Neither RSA key generation nor PBKDF2 in node:crypto can say how far they are,
 * so progress is elapsed time; the timer is always cleared, also on failure.
 */
export async function withProgress<T>(phase: ProgressEvent['phase'], hook: ProgressHook | undefined, work: () => Promise<T>): Promise<T> {
  if (hook === undefined) return work();
  const started = Date.now();
  hook({ phase, state: 'start', elapsedMs: 0 });
  const timer = setInterval(() => hook({ phase, state: 'tick', elapsedMs: Date.now() - started }), PROGRESS_INTERVAL_MS);
  try {
    return await work();
  } finally {
    clearInterval(timer);
    hook({ phase, state: 'done', elapsedMs: Date.now() - started });
  }
}
