import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BitChatError } from '../../core/errors.js';

/** The node has no profile in its config (for example a relay-only node). */
export const ERR_UI_NO_PROFILE = 'ERR_UI_NO_PROFILE';
/** The profile is locked (or missing), so there are no chats to show yet. */
export const ERR_UI_LOCKED = 'ERR_UI_LOCKED';
/** The file-share plugin is not loaded. */
export const ERR_UI_NO_FILE_SHARE = 'ERR_UI_NO_FILE_SHARE';
/** The request does not match its route's schema, or names something the node does not know. */
export const ERR_UI_BAD_REQUEST = 'ERR_UI_BAD_REQUEST';
/** The node runs without a config file, so settings cannot be saved. */
export const ERR_UI_NO_CONFIG_FILE = 'ERR_UI_NO_CONFIG_FILE';
/** The chat service has no invitations (an older or stand-in service). */
export const ERR_UI_NO_INVITATIONS = 'ERR_UI_NO_INVITATIONS';
/** The network policy forbids direct connections and no proxy service is there to carry a CA request. */
export const ERR_UI_NO_PROXY = 'ERR_UI_NO_PROXY';
export const ERR_UI_INTERNAL = 'ERR_UI_INTERNAL';

export class UiError extends BitChatError {
  readonly statusCode: number;

  constructor(code: string, statusCode: number, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'UiError';
    this.statusCode = statusCode;
  }
}

const CODE_PATTERN = /^ERR_[A-Z0-9_]+$/;
/** Node's own errors carry ERR_ codes too, but their messages are not for the page. */
const BUILT_IN_ERROR_NAMES = new Set(['Error', 'TypeError', 'RangeError', 'SyntaxError', 'SystemError', 'AbortError', 'ReferenceError']);

/**
 * A project error, by shape rather than class: a plugin installed as a package
 * may bring its own copy of the error classes (its own BitChatError).
 */
function isCoded(err: unknown): err is Error & { code: string } {
  if (err instanceof BitChatError) return true;
  if (!(err instanceof Error) || BUILT_IN_ERROR_NAMES.has(err.name)) return false;
  const code = (err as unknown as { code?: unknown }).code;
  return typeof code === 'string' && CODE_PATTERN.test(code);
}

/** Which HTTP status a coded error from a service maps to. */
function statusFor(err: Error & { code: string; statusCode?: number }): number {
  if (err instanceof UiError) return err.statusCode;
  if (/_UNKNOWN_|_NOT_FOUND$/.test(err.code)) return 404;
  if (/PASSWORD|_LOCKED$|_DECRYPT/.test(err.code)) return 403;
  // The proxy (or what it reaches) failed, not the request: a gateway error.
  if (err.code.startsWith('ERR_PROXY_')) return 502;
  return 400;
}

/**
 * Every API error is `{ code, message }`. Coded errors from services keep their
 * code and message (they are written for people); anything else is a bug and
 * is logged, not shown.
 */
export function installErrorHandler(app: FastifyInstance, log: { error(obj: object, msg: string): void }): void {
  app.setErrorHandler((err: Error & { validation?: unknown; statusCode?: number; code?: string }, request: FastifyRequest, reply: FastifyReply) => {
    if (err.validation) return reply.code(400).send({ code: ERR_UI_BAD_REQUEST, message: err.message });
    if (isCoded(err)) return reply.code(statusFor(err)).send({ code: err.code, message: err.message });
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.code(err.statusCode).send({ code: ERR_UI_BAD_REQUEST, message: err.message });
    }
    log.error({ err, url: request.url }, 'API request failed');
    return reply.code(500).send({ code: ERR_UI_INTERNAL, message: 'internal error (see the node log)' });
  });
}
