/**
 * The real `bitchat` executable (the compiled build: run `npm run build` first) as a
 * child process, with its output collected and every wait bounded in time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BITCHAT_BIN = join(ROOT, 'bin', 'bitchat.js');
/** A child still running after this long is killed (a test never hangs on it). */
const KILL_AFTER_MS = 30_000;
const DEFAULT_WAIT_MS = 15_000;

export interface BitchatResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}

export class BitchatProcess {
  readonly child: ChildProcess;
  out = '';
  err = '';
  readonly exited: Promise<BitchatResult>;
  private readonly watchers = new Set<() => void>();

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(process.execPath, [BITCHAT_BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const killer = setTimeout(() => this.child.kill('SIGKILL'), KILL_AFTER_MS);
    this.child.stdout!.on('data', (chunk) => {
      this.out += chunk;
      for (const w of [...this.watchers]) w();
    });
    this.child.stderr!.on('data', (chunk) => (this.err += chunk));
    this.exited = new Promise((resolve, reject) => {
      this.child.on('error', reject);
      this.child.on('close', (code, signal) => {
        clearTimeout(killer);
        for (const w of [...this.watchers]) w();
        resolve({ code, signal, out: this.out, err: this.err });
      });
    });
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves once stdout matches `pattern`; rejects if the process exits first or time runs out. */
  waitForOutput(pattern: RegExp, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (pattern.test(this.out)) done();
        else if (!this.running) done(new Error(`bitchat exited before printing ${pattern}: ${this.out}\n${this.err}`));
      };
      const timer = setTimeout(() => done(new Error(`bitchat did not print ${pattern} within ${timeoutMs} ms: ${this.out}\n${this.err}`)), timeoutMs);
      const done = (err?: Error): void => {
        clearTimeout(timer);
        this.watchers.delete(check);
        if (err) reject(err);
        else resolve();
      };
      this.watchers.add(check);
      check();
    });
  }

  /** Sends `signal` and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGINT'): Promise<BitchatResult> {
    if (this.running) this.child.kill(signal);
    return this.exited;
  }
}

/** Runs the executable to its end; with `until`, sends one Ctrl-C once stdout matches it. */
export async function spawnBitchat(args: string[], env: NodeJS.ProcessEnv = {}, until?: RegExp): Promise<BitchatResult> {
  const p = new BitchatProcess(args, env);
  if (until) {
    // One Ctrl-C: a second one during shutdown would (rightly) force the exit.
    await p.waitForOutput(until).then(
      () => p.child.kill('SIGINT'),
      () => undefined,
    );
  }
  return p.exited;
}
