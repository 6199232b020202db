import { BitChatError } from '../errors.js';
import { ALERT } from './constants.js';

/** Stable codes of every way a secure channel can fail. */
export const SC_ERROR = Object.freeze({
  OPTIONS: 'ERR_SC_OPTIONS',
  VERSION: 'ERR_SC_VERSION',
  NO_COMMON_SUITE: 'ERR_SC_NO_COMMON_SUITE',
  BAD_PSK: 'ERR_SC_BAD_PSK',
  BAD_CERTIFICATE: 'ERR_SC_BAD_CERTIFICATE',
  BAD_SIGNATURE: 'ERR_SC_BAD_SIGNATURE',
  BAD_MAC: 'ERR_SC_BAD_MAC',
  PROTOCOL: 'ERR_SC_PROTOCOL',
  TIMEOUT: 'ERR_SC_TIMEOUT',
  TRUNCATED: 'ERR_SC_TRUNCATED',
  REMOTE_ALERT: 'ERR_SC_REMOTE_ALERT',
  CLOSED: 'ERR_SC_CLOSED',
  INTERNAL: 'ERR_SC_INTERNAL',
});

export type SecureChannelErrorCode = (typeof SC_ERROR)[keyof typeof SC_ERROR];

const ALERT_OF_CODE: Readonly<Record<string, number>> = Object.freeze({
  [SC_ERROR.VERSION]: ALERT.VERSION,
  [SC_ERROR.NO_COMMON_SUITE]: ALERT.NO_COMMON_SUITE,
  [SC_ERROR.BAD_CERTIFICATE]: ALERT.BAD_CERTIFICATE,
  [SC_ERROR.BAD_SIGNATURE]: ALERT.BAD_SIGNATURE,
  [SC_ERROR.BAD_MAC]: ALERT.BAD_MAC,
  [SC_ERROR.BAD_PSK]: ALERT.BAD_PSK,
  [SC_ERROR.PROTOCOL]: ALERT.PROTOCOL,
  [SC_ERROR.TIMEOUT]: ALERT.TIMEOUT,
  [SC_ERROR.INTERNAL]: ALERT.INTERNAL,
});

const CODE_OF_ALERT: ReadonlyMap<number, string> = new Map(
  Object.entries(ALERT_OF_CODE).map(([code, alert]) => [alert, code]),
);

/** A secure-channel failure. `alert` is what we told (or would tell) the peer. */
export class SecureChannelError extends BitChatError {
  /** For ERR_SC_REMOTE_ALERT: the code the peer reported, mapped to our code names. */
  readonly remoteCode?: string;
  /** For a declined certificate: the verifier's own code (e.g. ERR_CERT_REVOKED). */
  readonly verdictCode?: string;

  constructor(code: SecureChannelErrorCode, message: string, options?: { cause?: unknown; remoteCode?: string; verdictCode?: string }) {
    super(code, message, options);
    this.name = 'SecureChannelError';
    if (options?.remoteCode !== undefined) this.remoteCode = options.remoteCode;
    if (options?.verdictCode !== undefined) this.verdictCode = options.verdictCode;
  }

  /** The alert byte to send for this error, or undefined when the peer must not be told (it told us). */
  get alert(): number | undefined {
    return ALERT_OF_CODE[this.code];
  }

  static fromAlert(alert: number): SecureChannelError {
    const remoteCode = CODE_OF_ALERT.get(alert) ?? `alert ${alert}`;
    return new SecureChannelError(SC_ERROR.REMOTE_ALERT, `peer closed the channel: ${remoteCode}`, { remoteCode });
  }
}

/** Wraps anything thrown inside the channel into a SecureChannelError. */
export function asChannelError(err: unknown): SecureChannelError {
  if (err instanceof SecureChannelError) return err;
  return new SecureChannelError(SC_ERROR.INTERNAL, err instanceof Error ? err.message : String(err), { cause: err });
}

export function protocolError(message: string): SecureChannelError {
  return new SecureChannelError(SC_ERROR.PROTOCOL, message);
}
