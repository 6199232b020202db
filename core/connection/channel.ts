import { Duplex } from 'node:stream';
import {
  CHANNEL_WINDOW,
  MAX_CHANNEL_WINDOW,
  Signal,
  WINDOW_UPDATE_DIVISOR,
  WRITE_FRAME_DATA,
} from './constants.js';
import { ConnectionError, ConnectionErrorCode } from './errors.js';

/** What a channel needs from the connection that carries it. */
export interface ChannelHost {
  /** The channel has bytes to send and credit to send them: schedule it. */
  scheduleSend(channel: VirtualChannel): void;
  /** The window to grant a channel now ({@link CHANNEL_WINDOW} or {@link MAX_CHANNEL_WINDOW}). */
  receiveWindow(): number;
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

/**
 * Where a channel's received bytes go instead of its readable side (see
 * {@link VirtualChannel.divert}): `deliver` takes each piece as it arrives (`more` when
 * the frame it belongs to continues), `held` says how many delivered bytes the taker
 * still holds (credit is returned only for the rest).
 */
export interface ChannelSink {
  deliver(data: Buffer, more: boolean): void;
  held(): number;
}

const WRITABLE_HIGH_WATER_MARK = 64 * 1024;
/** Drop sent chunks from the front of the send queue once this many piled up. */
const COMPACT_AFTER_CHUNKS = 64;

/**
 * One virtual channel of a {@link Connection}: a Node `Duplex` whose bytes travel as
 * CHANNEL_DATA frames. Flow control is per channel and credit based: the sender may
 * have at most the receiver's window unacknowledged ({@link CHANNEL_WINDOW}, grown to
 * {@link MAX_CHANNEL_WINDOW} for a reader that keeps up on a link with few channels);
 * the receiver returns credit (WINDOW_UPDATE) as its consumer reads. So a slow reader
 * here never stalls other channels, and the receiver never buffers more than its window.
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
  /** Largest CHANNEL_DATA payload this channel puts in one frame. */
  private readonly frameData: number;
  /**
   * Bytes written and not yet framed (whole app writes, the first maybe partly sent),
   * and the callback of the latest write while it is held back (see {@link releaseWrite}).
   */
  private pending: Buffer[] = [];
  private pendingIndex = 0;
  private pendingOffset = 0;
  private pendingBytes = 0;
  private pendingCallback: ((err?: Error | null) => void) | null = null;
  /**
   * Set while the tail of a write (less than a frame) waits for the app's next write,
   * which a back-pressured writer makes as soon as its write completes: sent alone, the
   * tail would be a runt frame (and, in a tunnel, a runt frame on every hop).
   */
  private tailHold: NodeJS.Immediate | null = null;
  /** `_final`'s callback while the last bytes still wait to be sent. */
  private finalCallback: ((err?: Error | null) => void) | null = null;
  private receivedEnd = false;
  private silent = false;
  private remoteClosed = false;
  /** Set by {@link divert}: received bytes bypass the readable side. */
  private sink: ChannelSink | null = null;
  /** Called after each frame of ours went out (see {@link onFrameSent}). */
  private sentListener: (() => void) | null = null;
  private openWaiter: { resolve: () => void; reject: (err: Error) => void } | null = null;

  /** @internal created by {@link Connection}; `frameData` caps the payload of one data frame. */
  constructor(host: ChannelHost, name: Buffer, inbound: boolean, frameData: number = WRITE_FRAME_DATA) {
    super({
      allowHalfOpen: true,
      readableHighWaterMark: CHANNEL_WINDOW / 2,
      writableHighWaterMark: WRITABLE_HIGH_WATER_MARK,
    });
    this.host = host;
    this.name = Buffer.from(name);
    this.key = this.name.toString('latin1');
    this.inbound = inbound;
    this.frameData = frameData;
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

  /**
   * @internal a CHANNEL_DATA frame (or, with `more`, a piece of one that continues)
   * arrived; throws when the peer overran its credit.
   */
  receive(data: Buffer, more = false): void {
    if (data.length > this.recvCredit) {
      throw new ConnectionError(ConnectionErrorCode.CHANNEL_FLOW_CONTROL, `peer sent ${data.length} bytes with ${this.recvCredit} credit`);
    }
    this.recvCredit -= data.length;
    if (this.channelState === 'closed' || this.receivedEnd) return;
    this.stats.bytesIn += data.length;
    const sink = this.sink;
    if (sink) {
      sink.deliver(data, more);
      this.refreshCredit();
      return;
    }
    // Ignoring push()'s verdict is safe: the window bounds what can pile up.
    this.push(data);
  }

  /**
   * @internal From now on hand received bytes straight to `sink` (a tunnel's connection
   * or a relay's splice) instead of through the readable side: no stream machinery per
   * frame. Bytes already buffered go first. Credit then follows `sink.held()` the way it
   * follows the unread bytes otherwise, so flow control stays end to end.
   */
  divert(sink: ChannelSink): void {
    for (let chunk = this.read() as Buffer | null; chunk !== null; chunk = this.read() as Buffer | null) sink.deliver(chunk, false);
    this.sink = sink;
    this.refreshCredit();
  }

  /**
   * @internal Queue bytes to send without the writable side (for a tunnel's connection
   * or a splice, which bound what they queue themselves; see {@link queuedBytes}).
   * `flush` false lets the caller add more before the frame is cut.
   */
  sendRaw(data: Buffer, flush = true): void {
    if (this.channelState === 'closed') return;
    if (data.length > 0) this.enqueue(data);
    if (flush && this.sendable) this.host.scheduleSend(this);
  }

  /** @internal the connection closes normally: a tail held for the next write goes now. */
  flushTail(): void {
    this.releaseTail();
  }

  /** @internal bytes queued and not yet sent (raw or written). */
  get queuedBytes(): number {
    return this.pendingBytes;
  }

  /** @internal call `listener` after each frame of ours went out (one listener; null removes it). */
  onFrameSent(listener: (() => void) | null): void {
    this.sentListener = listener;
  }

  /**
   * @internal Return credit for what the consumer took: the unread bytes (or what a
   * sink still holds) and the credit still outstanding stay within the window. The
   * window grows only for a consumer that keeps up (holds nothing): a stalled one keeps
   * the initial window, so it never buffers more than that.
   */
  refreshCredit(): void {
    if (this.channelState === 'closed') return;
    const held = this.sink ? this.sink.held() : this.readableLength;
    const window = held === 0 ? this.host.receiveWindow() : CHANNEL_WINDOW;
    const grant = window - held - this.recvCredit;
    if (grant >= window / WINDOW_UPDATE_DIVISOR) {
      this.recvCredit += grant;
      const data = Buffer.allocUnsafe(4);
      data.writeUInt32LE(grant, 0);
      this.host.sendControl(Signal.WINDOW_UPDATE, this.name, data);
    }
  }

  /** @internal a WINDOW_UPDATE arrived; throws when it would raise credit above the largest window. */
  addCredit(credit: number): void {
    if (credit === 0 || this.sendCredit + credit > MAX_CHANNEL_WINDOW) {
      throw new ConnectionError(ConnectionErrorCode.CHANNEL_FLOW_CONTROL, `bad window update of ${credit} (credit ${this.sendCredit})`);
    }
    const was = this.sendable;
    this.sendCredit += credit;
    if (!was && this.sendable) this.host.scheduleSend(this);
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

  /**
   * @internal true while bytes wait and credit covers the next frame. A frame is never
   * cut short for lack of credit (the sender waits for the next update instead), so
   * frames stay full: a tunnel's inner frames keep matching its outer ones one to one.
   */
  get sendable(): boolean {
    return this.pendingBytes > 0 && !this.tailHold && this.sendCredit >= Math.min(this.pendingBytes, this.frameData) && this.channelState !== 'closed';
  }

  /**
   * @internal the next CHANNEL_DATA payload, as pieces of the queued writes (no copy;
   * call only when {@link sendable}). Call the returned `written` once the frame is in
   * the stream: it may complete the app's write (whose next bytes then join the queue
   * before the next frame is cut) and send a CHANNEL_END that waited for these bytes.
   */
  takeFrameData(): { parts: Buffer[]; length: number; written: () => void } {
    const length = Math.min(this.pendingBytes, this.frameData);
    const parts: Buffer[] = [];
    let need = length;
    while (need > 0) {
      const chunk = this.pending[this.pendingIndex]!;
      const left = chunk.length - this.pendingOffset;
      if (left <= need) {
        parts.push(this.pendingOffset === 0 ? chunk : chunk.subarray(this.pendingOffset));
        need -= left;
        this.pendingIndex++;
        this.pendingOffset = 0;
      } else {
        parts.push(chunk.subarray(this.pendingOffset, this.pendingOffset + need));
        this.pendingOffset += need;
        need = 0;
      }
    }
    this.pendingBytes -= length;
    this.sendCredit -= length;
    this.stats.bytesOut += length;
    if (this.pendingBytes === 0) {
      this.pending = [];
      this.pendingIndex = 0;
    } else if (this.pendingIndex >= COMPACT_AFTER_CHUNKS) {
      this.pending = this.pending.slice(this.pendingIndex);
      this.pendingIndex = 0;
    }
    return { parts, length, written: this.written };
  }

  /** After a frame went out: take the app's next bytes when less than a frame is left; end when all are out. */
  private readonly written = (): void => {
    this.releaseWrite(true);
    this.sentListener?.();
    if (this.pendingBytes > 0 || !this.finalCallback) return;
    const cb = this.finalCallback;
    this.finalCallback = null;
    this.host.sendControl(Signal.CHANNEL_END, this.name);
    cb();
  };

  /**
   * Completes the app's write once less than one frame of it is left to send, so the
   * next write joins the queue and fills that frame (no runt frame per write), while
   * the channel never holds more than one frame beyond what credit lets it send.
   */
  private releaseWrite(holdTail = false): void {
    if (!this.pendingCallback || this.pendingBytes >= this.frameData) return;
    const cb = this.pendingCallback;
    this.pendingCallback = null;
    cb();
    // A writer held back until now writes again within this turn of the event loop
    // (its callback or 'drain' runs first): keep the tail for it until then.
    if (holdTail && this.pendingBytes > 0 && this.pendingBytes < this.frameData && !this.pendingCallback && !this.finalCallback && !this.tailHold) {
      this.tailHold = setImmediate(this.releaseTail);
    }
  }

  /** Send a held tail: the app wrote more, ended, or let the turn pass (or the connection closes: see {@link flushTail}). */
  private readonly releaseTail = (): void => {
    if (!this.tailHold) return;
    clearImmediate(this.tailHold);
    this.tailHold = null;
    if (this.sendable) this.host.scheduleSend(this);
  };

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (chunk.length > 0) this.enqueue(chunk);
    this.pendingCallback = callback;
    this.afterEnqueue();
  }

  /** Corked or queued writes arrive together and share frames (a tunnel's frame header and data travel in one). */
  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (err?: Error | null) => void): void {
    for (const { chunk } of chunks) if (chunk.length > 0) this.enqueue(chunk);
    this.pendingCallback = callback;
    this.afterEnqueue();
  }

  private enqueue(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.tailHold) this.releaseTail();
  }

  private afterEnqueue(): void {
    this.releaseWrite();
    if (this.sendable) this.host.scheduleSend(this);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.releaseTail();
    if (this.pendingBytes > 0) {
      // The last bytes are still queued: CHANNEL_END follows them (see `written`).
      this.finalCallback = callback;
      return;
    }
    this.host.sendControl(Signal.CHANNEL_END, this.name);
    callback();
  }

  override _read(): void {
    if (!this.sink) this.refreshCredit();
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
    const cb = this.pendingCallback;
    this.pending = [];
    this.pendingIndex = 0;
    this.pendingBytes = 0;
    this.pendingCallback = null;
    this.finalCallback = null;
    this.sink = null;
    this.sentListener = null;
    if (this.tailHold) clearImmediate(this.tailHold);
    this.tailHold = null;
    cb?.(new ConnectionError(ConnectionErrorCode.CLOSED, 'channel closed'));
    callback(err);
  }
}
