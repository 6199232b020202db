import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Keys whose values never reach a log line, wherever they appear one level deep. */
const REDACTED_KEYS = ['password', 'passphrase', 'secret', 'psk', 'privateKey', 'token', 'key', 'proxyPassword'];

const REDACT_PATHS = REDACTED_KEYS.flatMap((key) => [key, `*.${key}`]);

/**
 * The node's root logger. Logs go to stderr so that CLI output on stdout stays
 * clean for scripts; tests pass their own destination or level 'silent'.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    { level, base: undefined, redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    destination ?? pino.destination({ fd: 2, sync: true }),
  );
}
