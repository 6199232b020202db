/**
 * Resolves on the first Ctrl-C or SIGTERM, or after `exitAfterS` seconds when
 * given (scripts, tests), or when `signal` aborts (what it waited beside ended). Keeps the process alive until then: a node with no
 * open socket would otherwise let it exit at once. A second Ctrl-C during
 * shutdown falls through to Node's default and ends the process.
 */
export function untilInterrupted(exitAfterS?: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const keepAlive = setInterval(() => {}, 1 << 30);
    const timer = exitAfterS !== undefined ? setTimeout(() => stop(), Math.max(0, exitAfterS) * 1000) : undefined;
    const stop = (): void => {
      clearTimeout(timer);
      clearInterval(keepAlive);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    signal?.addEventListener('abort', stop, { once: true });
    if (signal?.aborted) stop();
  });
}
