import { BitChatError } from '../errors.js';

/** Stable codes of the local control socket (`ERR_CONTROL_<REASON>`); they cross the socket as `error.code`. */
export const ControlErrorCode = {
  /** A request line is not JSON, not an object, or has a bad `id` / `method` / `params`. */
  BAD_REQUEST: 'ERR_CONTROL_BAD_REQUEST',
  /** A request line is longer than the cap (the connection is closed: the stream cannot be re-synchronised cheaply). */
  TOO_LARGE: 'ERR_CONTROL_TOO_LARGE',
  /** No method of that name is registered. */
  UNKNOWN_METHOD: 'ERR_CONTROL_UNKNOWN_METHOD',
  /** The params do not match the method's schema. */
  BAD_PARAMS: 'ERR_CONTROL_BAD_PARAMS',
  /** Too many requests in flight on one connection, or too many connections. */
  BUSY: 'ERR_CONTROL_BUSY',
  /** A request `id` is already in flight on this connection. */
  DUPLICATE_ID: 'ERR_CONTROL_DUPLICATE_ID',
  /** A method name is taken, or not of the form `area.verb`. */
  BAD_METHOD_NAME: 'ERR_CONTROL_BAD_METHOD_NAME',
  /** A streaming request was cancelled (by `control.cancel`) or the server stops. */
  CANCELLED: 'ERR_CONTROL_CANCELLED',
  /** A handler failed with an error that is not a BitChatError (the message is passed on, the stack is not). */
  INTERNAL: 'ERR_CONTROL_INTERNAL',
  /** No node answers on the data folder's control socket. */
  NOT_RUNNING: 'ERR_CONTROL_NOT_RUNNING',
  /** The control socket closed before the answer came, or the answer was malformed. */
  CLOSED: 'ERR_CONTROL_CLOSED',
  /** The node did not answer in time. */
  TIMEOUT: 'ERR_CONTROL_TIMEOUT',
  /** Another live node answers on the socket path (it is not stale). */
  IN_USE: 'ERR_CONTROL_IN_USE',
  /** Something that is not a socket (or a folder not ours / not private) sits where the socket goes; it is left alone. */
  UNSAFE_PATH: 'ERR_CONTROL_UNSAFE_PATH',
  /** The socket path is longer than a Unix socket address allows (about 107 bytes). */
  PATH_TOO_LONG: 'ERR_CONTROL_PATH_TOO_LONG',
} as const;

export type ControlErrorCodeValue = (typeof ControlErrorCode)[keyof typeof ControlErrorCode];

/** A failure of the control socket: bad requests, caps, unknown methods, no node running. */
export class ControlError extends BitChatError {
  constructor(code: ControlErrorCodeValue, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'ControlError';
  }
}

/**
 * An error that a running node reported over the control socket: it keeps the
 * node's code (e.g. `ERR_NODE_UNKNOWN_CHAT`) so the CLI prints and exits as if the
 * error had happened locally.
 */
export class RemoteError extends BitChatError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'RemoteError';
  }
}
