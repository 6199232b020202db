import { BitChatError } from '../errors.js';

/**
 * Errors of the chat layer (network IDs, message codec, history store, mesh).
 * Codes are stable: `ERR_CHAT_<REASON>`.
 */
export class ChatError extends BitChatError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'ChatError';
  }
}

/** A message on the wire is shorter than its layout says, or longer than allowed. */
export const ERR_CHAT_TRUNCATED = 'ERR_CHAT_TRUNCATED';
/** A field on the wire has a value outside its allowed range (count, length, version). */
export const ERR_CHAT_BAD_FIELD = 'ERR_CHAT_BAD_FIELD';
/** A message to encode exceeds a cap (message size, peers per exchange, IDs per sync). */
export const ERR_CHAT_TOO_LARGE = 'ERR_CHAT_TOO_LARGE';
/** A derivation input is unusable (empty group name, malformed e-mail, wrong ID length). */
export const ERR_CHAT_BAD_INPUT = 'ERR_CHAT_BAD_INPUT';
/** A message type number is already registered by another owner, or reserved by core. */
export const ERR_CHAT_TYPE_TAKEN = 'ERR_CHAT_TYPE_TAKEN';
/** A stored message body failed authentication (wrong key, tampered row). */
export const ERR_CHAT_STORE_CORRUPT = 'ERR_CHAT_STORE_CORRUPT';
/** A peer may not join this chat (private chat: wrong certificate e-mail). */
export const ERR_CHAT_NOT_MEMBER = 'ERR_CHAT_NOT_MEMBER';
/** The chat is unknown to this node. */
export const ERR_CHAT_UNKNOWN_CHAT = 'ERR_CHAT_UNKNOWN_CHAT';
/** A known peer showed up with another certificate while a session with the first is open. */
export const ERR_CHAT_KEY_MISMATCH = 'ERR_CHAT_KEY_MISMATCH';
/** A peer broke the message protocol (malformed message); its session is closed. */
export const ERR_CHAT_PROTOCOL = 'ERR_CHAT_PROTOCOL';
