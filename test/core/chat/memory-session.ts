import { EventEmitter } from 'node:events';
import type { ChatSession } from '../../../core/chat/session.js';
import type { Endpoint } from '../../../core/types.js';

/** Who is at the other end, as the secure channel would report it. */
export interface SessionPeer {
  identity: string;
  fingerprint: Buffer;
  peerId: Buffer;
  remote?: Endpoint;
}

/**
 * One end of an in-process session pair: ordered, asynchronous delivery (setImmediate),
 * messages queued until someone listens, close seen by both ends.
 */
export class MemorySession extends EventEmitter implements ChatSession {
  readonly peerIdentity: string;
  readonly peerFingerprint: Buffer;
  readonly peerId: Buffer;
  readonly remote?: Endpoint;
  other!: MemorySession;
  closed = false;
  sent: Buffer[] = [];
  private inbox: Buffer[] = [];

  constructor(peer: SessionPeer) {
    super();
    this.peerIdentity = peer.identity;
    this.peerFingerprint = peer.fingerprint;
    this.peerId = peer.peerId;
    if (peer.remote) this.remote = peer.remote;
    this.on('newListener', (event: string) => {
      if (event === 'message' && this.inbox.length > 0) setImmediate(() => this.drain());
    });
  }

  send(message: Buffer): void {
    if (this.closed) return;
    this.sent.push(message);
    const to = this.other;
    setImmediate(() => {
      if (to.closed) return;
      to.inbox.push(message);
      to.drain();
    });
  }

  private drain(): void {
    while (this.inbox.length > 0 && this.listenerCount('message') > 0 && !this.closed) this.emit('message', this.inbox.shift()!);
  }

  close(): void {
    this.end(undefined);
  }

  /** Both ends die with an error (a read timeout, a reset). */
  kill(error = new Error('connection reset')): void {
    this.end(error);
  }

  private end(error: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.other.closed = true;
    setImmediate(() => {
      this.emit('close', error);
      this.other.emit('close', error);
    });
  }
}

/** `a` is held by the node `aSide` describes the peer of... i.e. a.peer = b's identity. */
export function sessionPair(aPeer: SessionPeer, bPeer: SessionPeer): [MemorySession, MemorySession] {
  const a = new MemorySession(aPeer);
  const b = new MemorySession(bPeer);
  a.other = b;
  b.other = a;
  return [a, b];
}

/** Polls `cond` until true; rejects after `ms` (a bound so a broken test fails, not hangs). */
export async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
