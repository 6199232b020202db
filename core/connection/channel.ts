import { Duplex } from 'node:stream';
import {
  CHANNEL_WINDOW,
  Signal,
  WINDOW_UPDATE_THRESHOLD,
  WRITE_FRAME_DATA,
} from './constants.js';
import { ConnectionError, ConnectionErrorCode } from './errors.js';

/** What a channel needs from the connection that carries it. */
export interface ChannelHost {
  /** The channel has bytes to send and credit to send them: schedule it. */
  scheduleSend(channel: VirtualChannel): void;
  /** Send a frame that carries no payload of the channel's own (accept, end, credit...). */
  sendControl(signal: number, name: Buffer, data?: Buffer): void;
  /**
   * The channel is gone: forget it. With `awaitingPeer` the name stays reserved until
   * the peer's DISCONNECT_CHANNEL arrives, so a late frame cannot hit a reused name.
   */
  releaseChannel(channel: VirtualChannel, awaitingPeer: boolean): void;
}

/** Where a channel is in its life. */
export type ChannelState = 'opening' | 'open' | 'closed';

const WRITABLE_HIGH_WATER_MARK = 64 * 1024;

/**
 * One virtual channel of a {@link Connection}: a Node `Duplex` whose bytes travel as
 * CHANNEL_DATA frames. Flow control is per channel and credit based: the sender may
 * have at most {@link CHANNEL_WINDOW} bytes unacknowledged; the receiver returns credit
 * (WINDOW_UPDATE) as its consumer reads. So a slow reader here never stalls other
 * channels, and the receiver never buffers more than one window.
 *
 * `end()` half-closes (CHANNEL_END after the last byte); `destroy()` aborts
 * (unread data discarded on both sides). Either way each side's last frame for the
 * name is one DISCONNECT_CHANNEL, and a side reuses the name only once it has sent
 * and received one. An abort by the peer or
 * the loss of the connection destroys the channel without an error (`'close'` fires,
 * `'end'` does not), so a careless listener cannot crash the process.
 */
export class VirtualChannel extends Duplex {
  /** The channel's 20-byte name. */
  readonly name: Buffer;
  /** True when the peer opened it. */
  readonly inbound: boolean;
  /** Bytes carried, as plain counters. */
  readonly stats = { bytesIn: 0, bytesOut: 0 };

  /** @internal map key of the name. */
  readonly key: string;
  private readonly host: ChannelHost;
  private channelState: ChannelState = 'opening';
  private sendCredit = CHANNEL_WINDOW;
  private recvCredit = CHANNEL_WINDOW;
  private chunk: Buffer | null = null;
  private chunkOffset = 0;
  private chunkCallback: ((err?: Error | null) => void) | null = null;
  private receivedEnd = false;
  private silent = false;
  private remoteClosed = false;
  private openWaiter: { resolve: () => void; reject: (err: Error) => void } | null = null;

  /** @internal created by {@link Connection}. */
  constructor(host: ChannelHost, name: Buffer, inbound: boolean) {
    super({
      allowHalfOpen: true,
      readableHighWaterMark: CHANNEL_WINDOW / 2,
      writableHighWaterMark: WRITABLE_HIGH_WATER_MARK,
    });
    this.host = host;
    this.name = Buffer.from(name);
    this.key = this.name.toString('latin1');
    this.inbound = inbound;
  }

  get state(): ChannelState {
    return this.channelState;
  }

  /** @internal resolves when the peer accepts an open we sent. */
  waitOpen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.openWaiter = { resolve, reject };
    });
  }

  /** @internal the open is accepted (by us for inbound, by the peer for outbound). */
  markOpen(): void {
    if (this.channelState !== 'opening') return;
    this.channelState = 'open';
    const waiter = this.openWaiter;
    this.openWaiter = null;
    waiter?.resolve();
  }

  /** @internal a CHANNEL_DATA frame arrived; throws when the peer overran its credit. */
  receive(data: Buffer): void {
    if (data.length > this.recvCredit) {
      throw new ConnectionError(ConnectionErrorCode.CHANNEL_FLOW_CONTROL, `peer sent ${data.length} bytes with ${this.recvCredit} credit`);
    }
    this.recvCredit -= data.length;
    if (this.channelState === 'closed' || this.receivedEnd) return;
    this.stats.bytesIn += data.length;
    // Ignoring push()'s verdict is safe: the window bounds what can pile up.
    this.push(data);
  }

  /** @internal a WINDOW_UPDATE arrived; throws when it would exceed one window. */
  addCredit(credit: number): void {
    if (credit === 0 || this.sendCredit + credit > CHANNEL_WINDOW) {
      throw new ConnectionError(ConnectionErrorCode.CHANNEL_FLOW_CONTROL, `bad window update of ${credit} (credit ${this.sendCredit})`);
    }
    const was = this.sendCredit;
    this.sendCredit += credit;
    if (was === 0 && this.chunk) this.host.scheduleSend(this);
  }

  /** @internal the peer half-closed. */
  remoteEnd(): void {
    if (this.receivedEnd) return;
    this.receivedEnd = true;
    this.push(null);
  }

  /** @internal the peer refused the open or aborted the channel. */
  remoteAbort(): void {
    this.remoteClosed = true;
    this.fail(new ConnectionError(ConnectionErrorCode.CHANNEL_REFUSED, 'the peer refused the channel'));
  }

  /** @internal the connection is gone: no frame can be sent any more. */
  connectionLost(reason: Error): void {
    this.silent = true;
    this.fail(reason);
  }

  /** @internal an open we sent got no answer in time: abort it (the peer is told). */
  cancelOpen(reason: Error): void {
    this.fail(reason);
  }

  /** Destroys without an error event; an open still waiting is rejected with `reason`. */
  private fail(reason: Error): void {
    const waiter = this.openWaiter;
    this.openWaiter = null;
    waiter?.reject(reason);
    this.destroy();
  }

  /** @internal true while a chunk waits and credit allows sending some of it. */
  get sendable(): boolean {
    return this.chunk !== null && this.sendCredit > 0 && this.channelState !== 'closed';
  }

  /**
   * @internal the next CHANNEL_DATA payload to put on the wire (call only when
   * {@link sendable}). Call the returned `written` (when set) once the frame is in the
   * stream: it completes the app's write, and must not let a CHANNEL_END overtake it.
   */
  takeFrameData(): { data: Buffer; written: (() => void) | null } {
    const chunk = this.chunk!;
    const n = Math.min(chunk.length - this.chunkOffset, this.sendCredit, WRITE_FRAME_DATA);
    const data = chunk.subarray(this.chunkOffset, this.chunkOffset + n);
    this.chunkOffset += n;
    this.sendCredit -= n;
    this.stats.bytesOut += n;
    if (this.chunkOffset < chunk.length) return { data, written: null };
    const cb = this.chunkCallback!;
    this.chunk = null;
    this.chunkCallback = null;
    return { data, written: () => cb() };
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (chunk.length === 0) {
      callback();
      return;
    }
    this.chunk = chunk;
    this.chunkOffset = 0;
    this.chunkCallback = callback;
    if (this.sendCredit > 0) this.host.scheduleSend(this);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.host.sendControl(Signal.CHANNEL_END, this.name);
    callback();
  }

  override _read(): void {
    if (this.channelState === 'closed') return;
    const grant = CHANNEL_WINDOW - this.readableLength - this.recvCredit;
    if (grant >= WINDOW_UPDATE_THRESHOLD) {
      this.recvCredit += grant;
      const data = Buffer.allocUnsafe(4);
      data.writeUInt32LE(grant, 0);
      this.host.sendControl(Signal.WINDOW_UPDATE, this.name, data);
    }
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const wasClosed = this.channelState === 'closed';
    this.channelState = 'closed';
    if (!wasClosed) {
      const awaitingPeer = !this.silent && !this.remoteClosed;
      if (!this.silent) this.host.sendControl(Signal.DISCONNECT_CHANNEL, this.name);
      this.host.releaseChannel(this, awaitingPeer);
    }
    const waiter = this.openWaiter;
    this.openWaiter = null;
    waiter?.reject(err ?? new ConnectionError(ConnectionErrorCode.CLOSED, 'channel closed before it opened'));
    const cb = this.chunkCallback;
    this.chunk = null;
    this.chunkCallback = null;
    cb?.(new ConnectionError(ConnectionErrorCode.CLOSED, 'channel closed'));
    callback(err);
  }
}
