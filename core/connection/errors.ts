import { BitChatError } from '../errors.js';

/** Stable codes of the connection layer. */
export const ConnectionErrorCode = {
  FRAME_TOO_LARGE: 'ERR_FRAME_TOO_LARGE',
  FRAME_UNKNOWN_SIGNAL: 'ERR_FRAME_UNKNOWN_SIGNAL',
  FRAME_BAD_LENGTH: 'ERR_FRAME_BAD_LENGTH',
  HANDSHAKE_VERSION: 'ERR_CONNECTION_HANDSHAKE_VERSION',
  HANDSHAKE_MALFORMED: 'ERR_CONNECTION_HANDSHAKE_MALFORMED',
  HANDSHAKE_TIMEOUT: 'ERR_CONNECTION_HANDSHAKE_TIMEOUT',
  SELF: 'ERR_CONNECTION_SELF',
  DUPLICATE: 'ERR_CONNECTION_DUPLICATE',
  BUSY: 'ERR_CONNECTION_BUSY',
  DIAL: 'ERR_CONNECTION_DIAL',
  NO_DIALER: 'ERR_CONNECTION_NO_DIALER',
  CLOSED: 'ERR_CONNECTION_CLOSED',
  READ_TIMEOUT: 'ERR_CONNECTION_READ_TIMEOUT',
  WRITE_TIMEOUT: 'ERR_CONNECTION_WRITE_TIMEOUT',
  STOPPED: 'ERR_CONNECTION_STOPPED',
  NOT_CONNECTED: 'ERR_CONNECTION_NOT_CONNECTED',
  CHANNEL_REFUSED: 'ERR_CHANNEL_REFUSED',
  CHANNEL_EXISTS: 'ERR_CHANNEL_EXISTS',
  CHANNEL_LIMIT: 'ERR_CHANNEL_LIMIT',
  CHANNEL_TIMEOUT: 'ERR_CHANNEL_TIMEOUT',
  CHANNEL_FLOW_CONTROL: 'ERR_CHANNEL_FLOW_CONTROL',
  CHANNEL_BAD_NAME: 'ERR_CHANNEL_BAD_NAME',
  TUNNEL_NO_ROUTE: 'ERR_TUNNEL_NO_ROUTE',
  TUNNEL_BAD_ENDPOINT: 'ERR_TUNNEL_BAD_ENDPOINT',
} as const;

export type ConnectionErrorCodeValue = (typeof ConnectionErrorCode)[keyof typeof ConnectionErrorCode];

/** Every failure of the connection layer: bad bytes from a peer, timeouts, refusals. */
export class ConnectionError extends BitChatError {
  declare readonly code: ConnectionErrorCodeValue;

  constructor(code: ConnectionErrorCodeValue, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'ConnectionError';
  }
}
