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
/** No pending invitation (or chat) matches. */
export const ERR_NODE_INVITATION_NOT_FOUND = 'ERR_NODE_INVITATION_NOT_FOUND';
/** An invitation was refused (wrong certificate, malformed text, caps, not the invitee). */
export const ERR_NODE_INVITATION_REFUSED = 'ERR_NODE_INVITATION_REFUSED';
/** A private chat with a shared secret cannot be invited into (spec §2.6). */
export const ERR_NODE_INVITATION_SECRET = 'ERR_NODE_INVITATION_SECRET';
/** An invitation text above the cap. */
export const ERR_NODE_INVITATION_TOO_LARGE = 'ERR_NODE_INVITATION_TOO_LARGE';
/** A stored outgoing invitation could not be resumed (malformed, oversized, its chat or message gone); it is skipped. */
export const ERR_NODE_INVITATION_STORED = 'ERR_NODE_INVITATION_STORED';
