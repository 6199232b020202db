import { BitChatError } from '../errors.js';

/**
 * Errors of the node wiring (chat transport, identity service). Codes are stable:
 * `ERR_NODE_<REASON>`.
 */
export class NodeError extends BitChatError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'NodeError';
  }
}

/** A session frame is malformed (length above the cap for its port). */
export const ERR_NODE_BAD_FRAME = 'ERR_NODE_BAD_FRAME';
/** The profile is locked (or absent) and the operation needs it unlocked. */
export const ERR_NODE_LOCKED = 'ERR_NODE_LOCKED';
/** A profile file already exists where one was to be created. */
export const ERR_NODE_PROFILE_EXISTS = 'ERR_NODE_PROFILE_EXISTS';
/** The node has no profile path configured (relay-only node). */
export const ERR_NODE_NO_PROFILE = 'ERR_NODE_NO_PROFILE';
/** The peer's certificate carries no e-mail address usable as an identity. */
export const ERR_NODE_NO_IDENTITY = 'ERR_NODE_NO_IDENTITY';
/** A chat ID the node does not know. */
export const ERR_NODE_UNKNOWN_CHAT = 'ERR_NODE_UNKNOWN_CHAT';
/** A peer read nothing while too many bytes were queued to it; its session is closed. */
export const ERR_NODE_SLOW_PEER = 'ERR_NODE_SLOW_PEER';
