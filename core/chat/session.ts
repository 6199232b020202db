/**
 * What the chat layer needs from one secure session with one peer in one chat:
 * the peer's authenticated identity, a way to send and close, and message/close
 * events. The secure channel (issue 4) will provide this; tests use in-memory pairs.
 */
import type { Endpoint } from '../types.js';

export interface ChatSession {
  /** The peer's certificate identity: lower-case e-mail (or key fingerprint for self-signed profiles). */
  readonly peerIdentity: string;
  /** Fingerprint of the peer's certificate key, pinned on first use (spec §4.1). */
  readonly peerFingerprint: Buffer;
  /** The peer node's random ID for this run: distinguishes a user's devices. */
  readonly peerId: Buffer;
  /** Where the peer listens (dial back here after a failure; listed in peer exchange), if known. */
  readonly remote?: Endpoint;
  /** True once closed; a session that closed while being admitted is not added. */
  readonly closed?: boolean;
  /** Sends one chat message (already encoded). */
  send(message: Buffer): void;
  /** Closes the session; a 'close' event follows. */
  close(): void;
  on(event: 'message', listener: (message: Buffer) => void): this;
  /** `error` is set when the session died of an error (then the mesh reconnects). */
  on(event: 'close', listener: (error?: Error) => void): this;
  off(event: 'message', listener: (message: Buffer) => void): this;
  off(event: 'close', listener: (error?: Error) => void): this;
}

/** Injectable timers so a mesh can be driven deterministically and always cleaned up. */
export interface Scheduler {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export const SYSTEM_SCHEDULER: Scheduler = Object.freeze({
  setTimeout: (fn: () => void, ms: number): unknown => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h: unknown): void => clearTimeout(h as NodeJS.Timeout),
  setInterval: (fn: () => void, ms: number): unknown => {
    const t = setInterval(fn, ms);
    t.unref?.();
    return t;
  },
  clearInterval: (h: unknown): void => clearInterval(h as NodeJS.Timeout),
});
