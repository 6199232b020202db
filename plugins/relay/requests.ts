/**
 * Outstanding relay requests of this node, matched to their TcpRelayResponseSuccess
 * (signal 12) by request ID and connection. Each waits at most a timeout.
 */
import { randomBytes } from 'node:crypto';
import type { Connection } from '../../core/connection/connection.js';
import { Signal } from '../../core/connection/constants.js';
import type { Frame } from '../../core/connection/frame.js';
import { REQUEST_ID_BYTES, type RelayStatusValue } from './constants.js';
import { RelayError } from './errors.js';
import { decodeRelayResponse } from './wire.js';

interface Pending {
  connection: Connection;
  resolve(status: RelayStatusValue): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export class PendingRequests {
  private readonly pending = new Map<string, Pending>();
  private readonly timeoutMs: number;

  constructor(timeoutMs: number) {
    this.timeoutMs = timeoutMs;
  }

  get size(): number {
    return this.pending.size;
  }

  /** Send `signal` with a fresh request ID and wait for the relay's status. */
  send(connection: Connection, signal: typeof Signal.START_TCP_RELAY | typeof Signal.STOP_TCP_RELAY, encode: (requestId: Buffer) => Buffer): Promise<RelayStatusValue> {
    const requestId = randomBytes(REQUEST_ID_BYTES);
    const data = encode(requestId);
    const key = requestId.toString('hex');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(key);
        reject(RelayError.timeout(`request ${key.slice(0, 8)}`));
      }, this.timeoutMs);
      this.pending.set(key, { connection, resolve, reject, timer });
      if (connection.closed) {
        this.settle(key, RelayError.closed());
        return;
      }
      connection.sendControl(signal, requestId, data);
    });
  }

  /** Signal 12 from `from`. Returns false when no request of ours matches. */
  onResponse(frame: Frame, from: Connection): boolean {
    const key = frame.name.toString('hex');
    const entry = this.pending.get(key);
    if (!entry || entry.connection !== from) return false;
    let status: RelayStatusValue;
    try {
      status = decodeRelayResponse(frame.data);
    } catch (err) {
      this.settle(key, err as Error);
      return true;
    }
    this.pending.delete(key);
    clearTimeout(entry.timer);
    entry.resolve(status);
    return true;
  }

  /** A connection closed: its requests fail now rather than at the timeout. */
  forget(connection: Connection): void {
    for (const [key, entry] of [...this.pending]) if (entry.connection === connection) this.settle(key, RelayError.closed());
  }

  stop(): void {
    for (const key of [...this.pending.keys()]) this.settle(key, RelayError.closed());
  }

  private settle(key: string, err: Error): void {
    const entry = this.pending.get(key);
    if (!entry) return;
    this.pending.delete(key);
    clearTimeout(entry.timer);
    entry.reject(err);
  }
}
