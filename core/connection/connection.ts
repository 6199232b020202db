import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Endpoint, PeerConnectionInfo, PeerId } from '../types.js';
import { VirtualChannel, type ChannelHost } from './channel.js';
import {
  CHANNEL_NAME_LENGTH,
  CHANNEL_WINDOW,
  type ConnectionLimits,
  FRAME_HEADER_LENGTH,
  GROWN_WINDOW_CHANNELS,
  MAX_CHANNEL_WINDOW,
  Signal,
  TUNNEL_FRAME_DATA,
  WRITE_FRAME_DATA,
} from './constants.js';
import { ConnectionError, ConnectionErrorCode } from './errors.js';
import { encodeFrame, FrameDecoder, writeFrameHeader, type Frame } from './frame.js';

/** Stop feeding data frames to the stream once it holds this much unsent. */
const SEND_BUFFER_BYTES = 128 * 1024;
const ZERO_NAME = Buffer.alloc(CHANNEL_NAME_LENGTH);
/** Floor for the housekeeping timer period, so tiny test timeouts do not spin. */
const MIN_TICK_MS = 20;

/** Counters a connection adds to (its manager's, shared by all its connections). */
export interface TrafficCounters {
  bytesIn: number;
  bytesOut: number;
  channelsOpened: number;
  /** Inbound opens refused (by a handler, by timeout, at the channel limit). */
  channelsRefused: number;
  framesDropped: number;
}

/** How a {@link Connection} is made; the manager fills this in after the handshake. */
export interface ConnectionInit {
  /** The byte stream (a TCP socket, or a channel of another connection for a tunnel). */
  stream: Duplex;
  localPeerId: PeerId;
  remotePeerId: PeerId;
  /** Who sent the handshake request. */
  direction: 'inbound' | 'outbound';
  /** Connection ID: the peer's IP and service port (or the end point we dialed). */
  remote: Endpoint;
  /** True inside a tunnel through a third node. */
  virtual: boolean;
  limits: ConnectionLimits;
  /** Bytes that arrived after the handshake, before frames were read. */
  rest?: Buffer;
  logger?: Logger;
  counters?: TrafficCounters;
}

/**
 * An inbound channel open, waiting for a decision. Call exactly one of `accept` or
 * `refuse`. The manager refuses an open its handlers leave undecided at once; a tunnel
 * open (decided once the far end answers) is refused after `channelOpenTimeoutMs`.
 */
export interface ChannelRequest {
  readonly connection: Connection;
  readonly name: Buffer;
  /** CONNECT_CHANNEL for ordinary opens; tunnel signals are handled by the manager. */
  readonly signal: number;
  readonly decided: boolean;
  accept(): VirtualChannel;
  refuse(): void;
}

export interface ConnectionEvents {
  channel: [ChannelRequest];
  /** Peer-status and extension frames (signals 8, 9, 10-13, 15, 16). */
  control: [Frame, Connection];
  close: [Error | undefined];
}

/**
 * One link to another node after a successful handshake: a TCP socket or a tunnel.
 * It multiplexes {@link VirtualChannel}s, schedules their data frames round-robin
 * (one frame per channel per turn, so channels share the link fairly), sends
 * keep-alives and closes itself when the peer is silent too long, stops reading
 * our bytes too long, or sends a bad frame (`'close'` carries the typed error).
 */
export class Connection extends EventEmitter<ConnectionEvents> implements ChannelHost {
  readonly info: PeerConnectionInfo;
  /** Peer ID of the node that sent the handshake request (used by the duplicate rule). */
  readonly initiatorPeerId: PeerId;
  readonly localPeerId: PeerId;
  /** Plain counters of this connection. */
  readonly stats = { bytesIn: 0, bytesOut: 0, framesIn: 0, framesOut: 0, channelsOpened: 0, channelsRefused: 0, framesDropped: 0 };
  /** Set once the connection closed; the error when it failed, undefined for a normal close. */
  closeReason: Error | undefined;

  private readonly stream: Duplex;
  /**
   * For a tunnel: the channel of the connection that carries it. Frames go into its send
   * queue and come out of its frames directly, not through the Node stream machinery
   * (its writable and readable sides carry only the handshake).
   */
  private readonly carrier: VirtualChannel | undefined;
  private readonly limits: ConnectionLimits;
  private readonly logger: Logger | undefined;
  private readonly counters: TrafficCounters | undefined;
  private readonly channels = new Map<string, VirtualChannel>();
  /** Names we closed whose peer has not yet sent its DISCONNECT_CHANNEL. */
  private readonly closing = new Set<string>();
  /** Opens waiting for a name to be free again (see {@link untilNameFree}). */
  private readonly nameWaiters = new Map<string, Array<() => void>>();
  private ready: VirtualChannel[] = [];
  private readonly decoder = new FrameDecoder();
  private readonly sendBufferBytes: number;
  /** Data bytes per frame we send (see the constructor). */
  private readonly frameData: number;
  /** True while the stream is corked until the end of this tick. */
  private corked = false;
  private rest: Buffer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastReceived = Date.now();
  private lastSent = Date.now();
  private drainWaitSince = 0;
  private pumping = false;
  private pumpScheduled = false;
  private isClosed = false;
  private started = false;

  constructor(init: ConnectionInit) {
    super();
    this.stream = init.stream;
    this.carrier = init.stream instanceof VirtualChannel ? init.stream : undefined;
    this.limits = init.limits;
    this.logger = init.logger;
    this.counters = init.counters;
    this.rest = init.rest && init.rest.length > 0 ? init.rest : undefined;
    this.localPeerId = init.localPeerId;
    this.initiatorPeerId = init.direction === 'outbound' ? init.localPeerId : init.remotePeerId;
    this.info = Object.freeze({
      peerId: init.remotePeerId,
      remote: Object.freeze({ ...init.remote }),
      direction: init.direction,
      virtual: init.virtual,
    });
    this.sendBufferBytes = Math.max(SEND_BUFFER_BYTES, this.stream.writableHighWaterMark);
    // Inside a tunnel our frames are the payload of the carrying channel's frames: sized
    // so that one of ours, header included, fills exactly one of those, and the far end
    // reads each of ours whole from one outer frame (no reassembly copy).
    this.frameData = init.virtual ? TUNNEL_FRAME_DATA - FRAME_HEADER_LENGTH : WRITE_FRAME_DATA;
  }

  get peerId(): PeerId {
    return this.info.peerId;
  }

  get virtual(): boolean {
    return this.info.virtual;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Channels currently open or opening. */
  get channelCount(): number {
    return this.channels.size;
  }

  /** Begin reading frames. Call once, after listeners are attached. */
  start(): void {
    if (this.started || this.isClosed) return;
    this.started = true;
    if (!this.carrier) this.stream.on('data', this.onChunk);
    this.stream.on('end', this.onEnd);
    this.stream.on('error', this.onError);
    this.stream.on('close', this.onStreamClose);
    const tick = Math.max(MIN_TICK_MS, Math.min(this.limits.keepAliveMs, this.limits.readTimeoutMs, this.limits.writeTimeoutMs) / 4);
    this.timer = setInterval(this.onTick, tick);
    const rest = this.rest;
    this.rest = undefined;
    if (rest) this.onChunk(rest);
    if (this.isClosed) return;
    if (this.carrier) {
      // We decode each piece at once and hold nothing: the carrier returns credit as it
      // delivers (our channels' own windows bound what waits for their readers).
      this.carrier.divert({ deliver: this.onChunk, held: () => 0 });
      this.carrier.onFrameSent(this.onCarrierSent);
    }
    // Flowing, so the carrier's end (or the socket's) is seen.
    if (!this.isClosed) this.stream.resume();
  }

  /**
   * Open a channel to the peer. Resolves when the peer accepts; rejects with
   * ERR_CHANNEL_REFUSED, ERR_CHANNEL_EXISTS, ERR_CHANNEL_LIMIT, ERR_CHANNEL_TIMEOUT or
   * ERR_CONNECTION_CLOSED.
   */
  async openChannel(name: Buffer, signal: number = Signal.CONNECT_CHANNEL): Promise<VirtualChannel> {
    if (name.length !== CHANNEL_NAME_LENGTH) {
      throw new ConnectionError(ConnectionErrorCode.CHANNEL_BAD_NAME, `channel name must be ${CHANNEL_NAME_LENGTH} bytes`);
    }
    if (this.isClosed) throw new ConnectionError(ConnectionErrorCode.CLOSED, 'connection is closed');
    const key = name.toString('latin1');
    await this.untilNameFree(key);
    if (this.isClosed) throw new ConnectionError(ConnectionErrorCode.CLOSED, 'connection is closed');
    if (this.channels.has(key) || this.closing.has(key)) throw new ConnectionError(ConnectionErrorCode.CHANNEL_EXISTS, 'a channel with that name is open');
    if (this.channels.size + this.closing.size >= this.limits.maxChannels) {
      throw new ConnectionError(ConnectionErrorCode.CHANNEL_LIMIT, `at most ${this.limits.maxChannels} channels per connection`);
    }
    const channel = this.addChannel(name, false, signal);
    const opened = channel.waitOpen();
    this.sendControl(signal, channel.name);
    const timer = setTimeout(() => {
      channel.cancelOpen(new ConnectionError(ConnectionErrorCode.CHANNEL_TIMEOUT, `no answer to channel open within ${this.limits.channelOpenTimeoutMs} ms`));
    }, this.limits.channelOpenTimeoutMs);
    try {
      await opened;
    } finally {
      clearTimeout(timer);
    }
    return channel;
  }

  /**
   * Waits while `key` belongs to a channel on its way out: one we ended (it goes once
   * the peer ends too) or closed (it goes with the peer's DISCONNECT_CHANNEL). So a
   * tunnel re-opened right after its predecessor closed waits for the name instead of
   * failing with ERR_CHANNEL_EXISTS. Bounded by `channelOpenTimeoutMs`; a name still in
   * use by an open channel is not waited for.
   */
  private async untilNameFree(key: string): Promise<void> {
    const deadline = Date.now() + this.limits.channelOpenTimeoutMs;
    while (!this.isClosed && this.nameLeaving(key) && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, deadline - Date.now());
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        const waiters = this.nameWaiters.get(key);
        if (waiters) waiters.push(done);
        else this.nameWaiters.set(key, [done]);
      });
    }
  }

  private nameLeaving(key: string): boolean {
    if (this.closing.has(key)) return true;
    const channel = this.channels.get(key);
    return channel !== undefined && (channel.writableEnded || channel.destroyed);
  }

  /** The state of `key` changed: let the opens waiting for it look again. */
  private wakeName(key: string): void {
    const waiters = this.nameWaiters.get(key);
    if (!waiters) return;
    this.nameWaiters.delete(key);
    for (const wake of waiters) wake();
  }

  /** Send a frame that no channel owns (peer-status, extension signals). */
  sendControl(signal: number, name: Buffer, data?: Buffer): void {
    if (this.isClosed) return;
    this.write(encodeFrame(signal, name, data));
  }

  /** Close the connection and every channel on it. `reason` is kept in {@link closeReason}. */
  close(reason?: Error): void {
    if (this.isClosed) return;
    // A normal close sends what the channels already queued (sending waits for the end of the tick).
    if (!reason) for (const channel of this.channels.values()) channel.flushTail();
    if (!reason && !this.drainWaitSince) this.pump();
    this.isClosed = true;
    this.closeReason = reason;
    clearInterval(this.timer);
    this.timer = undefined;
    this.ready = [];
    const lost = reason ?? new ConnectionError(ConnectionErrorCode.CLOSED, 'connection closed');
    for (const channel of [...this.channels.values()]) channel.connectionLost(lost);
    this.channels.clear();
    this.closing.clear();
    for (const key of [...this.nameWaiters.keys()]) this.wakeName(key);
    this.stream.off('data', this.onChunk);
    this.carrier?.onFrameSent(null);
    this.flush();
    if (reason) {
      this.stream.destroy();
    } else {
      // A normal close lets queued frames (a last CHANNEL_END...) reach the peer.
      this.stream.end();
      const force = setTimeout(() => this.stream.destroy(), this.limits.writeTimeoutMs);
      force.unref();
      this.stream.once('close', () => clearTimeout(force));
    }
    if (reason) this.logger?.debug({ peer: this.info.remote, code: (reason as ConnectionError).code }, 'connection closed: %s', reason.message);
    this.emit('close', reason);
  }

  /**
   * @internal ChannelHost. A grown window is granted only while few channels share the
   * link, so at most GROWN_WINDOW_CHANNELS of them hold one at any time.
   */
  receiveWindow(): number {
    return this.channels.size <= GROWN_WINDOW_CHANNELS ? MAX_CHANNEL_WINDOW : CHANNEL_WINDOW;
  }

  /** @internal ChannelHost */
  scheduleSend(channel: VirtualChannel): void {
    if (!this.ready.includes(channel)) this.ready.push(channel);
    if (this.drainWaitSince || this.pumping || this.pumpScheduled) return;
    // At the end of the tick: the writes made until then fill frames together.
    this.pumpScheduled = true;
    process.nextTick(this.scheduledPump);
  }

  private readonly scheduledPump = (): void => {
    this.pumpScheduled = false;
    if (!this.drainWaitSince) this.pump();
  };

  /** @internal ChannelHost */
  releaseChannel(channel: VirtualChannel, awaitingPeer: boolean): void {
    if (this.channels.get(channel.key) !== channel) return;
    this.channels.delete(channel.key);
    if (awaitingPeer && !this.isClosed) this.closing.add(channel.key);
    this.wakeName(channel.key);
  }

  private addChannel(name: Buffer, inbound: boolean, signal: number): VirtualChannel {
    // A tunnel's channels carry whole frames of the connection inside (see TUNNEL_FRAME_DATA).
    const tunnel = signal === Signal.CONNECT_PROXY_TUNNEL || signal === Signal.CONNECT_PROXY_CONNECTION;
    const channel = new VirtualChannel(this, name, inbound, tunnel && !this.virtual ? TUNNEL_FRAME_DATA : this.frameData);
    this.channels.set(channel.key, channel);
    this.stats.channelsOpened++;
    if (this.counters) this.counters.channelsOpened++;
    return channel;
  }

  private write(buf: Buffer): void {
    if (this.carrier) {
      this.carrier.sendRaw(buf);
    } else {
      this.corkUntilNextTick();
      this.stream.write(buf);
    }
    this.lastSent = Date.now();
    this.stats.framesOut++;
    this.stats.bytesOut += buf.length;
    if (this.counters) this.counters.bytesOut += buf.length;
  }

  /**
   * Everything written in one tick (frames of every channel, control frames, frames a
   * relay forwards for several channels) leaves in one write to the stream: one
   * system call for a socket, one data frame for a tunnel's carrying channel.
   */
  private corkUntilNextTick(): void {
    // A carrier cuts its frames at the end of the tick anyway.
    if (this.corked || this.carrier) return;
    this.corked = true;
    this.stream.cork();
    process.nextTick(this.flush);
  }

  private readonly flush = (): void => {
    if (!this.corked) return;
    this.corked = false;
    this.stream.uncork();
  };

  /** Bytes handed to the stream (or carrier) and not yet sent. */
  private unsent(): number {
    return this.carrier ? this.carrier.queuedBytes : this.stream.writableLength;
  }

  /** Round-robin: one frame per ready channel per turn until the stream is full. */
  private pump(): void {
    if (this.pumping || this.isClosed) return;
    this.pumping = true;
    const { stream, carrier } = this;
    this.corkUntilNextTick();
    try {
      while (this.ready.length > 0 && this.unsent() < this.sendBufferBytes) {
        const channel = this.ready.shift()!;
        if (!channel.sendable) continue;
        const { parts, length, written } = channel.takeFrameData();
        const header = Buffer.allocUnsafe(FRAME_HEADER_LENGTH);
        writeFrameHeader(header, 0, Signal.CHANNEL_DATA, channel.name, length);
        if (carrier) {
          // The whole frame is queued before the carrier may cut one of its own.
          carrier.sendRaw(header, false);
          for (let i = 0; i < parts.length; i++) carrier.sendRaw(parts[i]!, i === parts.length - 1);
        } else {
          stream.write(header);
          for (const part of parts) stream.write(part);
        }
        const n = FRAME_HEADER_LENGTH + length;
        this.stats.framesOut++;
        this.stats.bytesOut += n;
        if (this.counters) this.counters.bytesOut += n;
        written();
        if (channel.sendable && !this.ready.includes(channel)) this.ready.push(channel);
      }
    } finally {
      this.pumping = false;
    }
    this.lastSent = Date.now();
    if (this.ready.length > 0 && !this.isClosed) {
      this.drainWaitSince = Date.now();
      if (!carrier) stream.once('drain', this.onDrain);
    }
  }

  private readonly onDrain = (): void => {
    this.drainWaitSince = 0;
    this.pump();
  };

  /** The carrier sent a frame of ours: go on once its queue is below our send buffer. */
  private readonly onCarrierSent = (): void => {
    if (this.drainWaitSince && this.carrier!.queuedBytes < this.sendBufferBytes) this.onDrain();
  };

  private readonly onChunk = (chunk: Buffer): void => {
    this.lastReceived = Date.now();
    this.stats.bytesIn += chunk.length;
    if (this.counters) this.counters.bytesIn += chunk.length;
    try {
      this.decoder.push(chunk, this.onFrame);
    } catch (err) {
      this.close(err instanceof ConnectionError ? err : new ConnectionError(ConnectionErrorCode.CLOSED, String(err), { cause: err }));
    }
  };

  private readonly onFrame = (frame: Frame): void => {
    if (this.isClosed) return;
    if (!frame.more) this.stats.framesIn++;
    switch (frame.signal) {
      case Signal.NOOP:
        return;
      case Signal.CONNECT_CHANNEL:
      case Signal.CONNECT_PROXY_TUNNEL:
      case Signal.CONNECT_PROXY_CONNECTION:
        this.onOpen(frame);
        return;
      case Signal.CHANNEL_DATA: {
        const channel = this.channels.get(frame.name.toString('latin1'));
        if (channel) channel.receive(frame.data, frame.more === true);
        else this.dropped();
        return;
      }
      case Signal.DISCONNECT_CHANNEL: {
        const key = frame.name.toString('latin1');
        if (this.closing.delete(key)) {
          this.wakeName(key);
        } else {
          this.channels.get(key)?.remoteAbort();
        }
        return;
      }
      case Signal.CHANNEL_ACCEPT: {
        const channel = this.channels.get(frame.name.toString('latin1'));
        if (channel && !channel.inbound) channel.markOpen();
        return;
      }
      case Signal.CHANNEL_END:
        this.channels.get(frame.name.toString('latin1'))?.remoteEnd();
        return;
      case Signal.WINDOW_UPDATE:
        this.channels.get(frame.name.toString('latin1'))?.addCredit(frame.data.readUInt32LE(0));
        return;
      default:
        this.emit('control', { signal: frame.signal, name: Buffer.from(frame.name), data: Buffer.from(frame.data) }, this);
    }
  };

  private dropped(): void {
    // Legitimate after a close races with data in flight; bounded by the peer's credit.
    this.stats.framesDropped++;
    if (this.counters) this.counters.framesDropped++;
  }

  private refused(): void {
    this.stats.channelsRefused++;
    if (this.counters) this.counters.channelsRefused++;
  }

  private onOpen(frame: Frame): void {
    const key = frame.name.toString('latin1');
    if (this.closing.has(key)) {
      // The peer must send its DISCONNECT_CHANNEL for a name before it reuses it.
      throw new ConnectionError(ConnectionErrorCode.CHANNEL_EXISTS, 'peer reopened a channel it had not closed');
    }
    const existing = this.channels.get(key);
    if (existing) {
      // Both ends opened the same name (or the peer is confused): both opens fail.
      existing.cancelOpen(new ConnectionError(ConnectionErrorCode.CHANNEL_EXISTS, 'both ends opened the same channel name'));
      return;
    }
    if (this.channels.size + this.closing.size >= this.limits.maxChannels) {
      this.sendControl(Signal.DISCONNECT_CHANNEL, frame.name);
      this.refused();
      return;
    }
    const channel = this.addChannel(frame.name, true, frame.signal);
    let decided = false;
    let timer: NodeJS.Timeout | undefined;
    const request: ChannelRequest = {
      connection: this,
      name: channel.name,
      signal: frame.signal,
      get decided() {
        return decided;
      },
      accept: () => {
        if (decided) throw new ConnectionError(ConnectionErrorCode.CHANNEL_EXISTS, 'channel request already decided');
        decided = true;
        clearTimeout(timer);
        if (channel.destroyed) throw new ConnectionError(ConnectionErrorCode.CLOSED, 'channel closed before it was accepted');
        channel.markOpen();
        this.sendControl(Signal.CHANNEL_ACCEPT, channel.name);
        return channel;
      },
      refuse: () => {
        if (decided) return;
        decided = true;
        clearTimeout(timer);
        this.refused();
        channel.destroy();
      },
    };
    this.emit('channel', request);
    if (!decided && !channel.destroyed) {
      timer = setTimeout(() => request.refuse(), this.limits.channelOpenTimeoutMs);
      channel.once('close', () => clearTimeout(timer));
    }
  }

  private readonly onTick = (): void => {
    const now = Date.now();
    if (now - this.lastReceived >= this.limits.readTimeoutMs) {
      this.close(new ConnectionError(ConnectionErrorCode.READ_TIMEOUT, `nothing received for ${this.limits.readTimeoutMs} ms`));
      return;
    }
    if (this.drainWaitSince && now - this.drainWaitSince >= this.limits.writeTimeoutMs) {
      this.close(new ConnectionError(ConnectionErrorCode.WRITE_TIMEOUT, `peer read nothing for ${this.limits.writeTimeoutMs} ms`));
      return;
    }
    if (now - this.lastSent >= this.limits.keepAliveMs) this.sendControl(Signal.NOOP, ZERO_NAME);
  };

  private readonly onEnd = (): void => {
    // The peer half-closed: it can send nothing more, so the connection is over.
    this.close(new ConnectionError(ConnectionErrorCode.CLOSED, 'peer closed the connection'));
  };

  private readonly onError = (err: Error): void => {
    this.close(new ConnectionError(ConnectionErrorCode.CLOSED, `stream error: ${err.message}`, { cause: err }));
  };

  private readonly onStreamClose = (): void => {
    this.close(new ConnectionError(ConnectionErrorCode.CLOSED, 'stream closed'));
  };
}
