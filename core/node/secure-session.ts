/**
 * A ChatSession over one secure channel (one peer, one chat): session frames of
 * spec §4.2 in the channel's byte stream, port 0 = one chat message. The peer's
 * identity is the certificate e-mail of the chain its handshake proved.
 */
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import type { KeyObject } from 'node:crypto';
import type { ChatSession } from '../chat/session.js';
import { parseCertificate } from '../identity/certificate.js';
import type { SecureChannel } from '../secure-channel/index.js';
import type { Endpoint, PeerId } from '../types.js';
import { ERR_NODE_BAD_FRAME, ERR_NODE_NO_IDENTITY, ERR_NODE_SLOW_PEER, NodeError } from './errors.js';
import { encodeSessionFrame, MAX_FRAME_DATA, MESSAGE_PORT, SESSION_FRAME_HEADER, SessionFrameDecoder, type SessionFrame } from './session-frame.js';

/** Who the peer is, read from the leaf of its verified chain. */
export interface PeerCertificate {
  identity: string;
  name: string;
  fingerprint: Buffer;
  publicKey: KeyObject;
}

export function peerCertificateOf(channel: SecureChannel): PeerCertificate {
  const der = channel.peerCertificateChain[0];
  if (!der) throw new NodeError(ERR_NODE_NO_IDENTITY, 'the peer sent no certificate');
  const leaf = parseCertificate(der);
  if (!leaf.email) throw new NodeError(ERR_NODE_NO_IDENTITY, 'the peer certificate has no e-mail address');
  return { identity: leaf.email.toLowerCase(), name: leaf.name, fingerprint: Buffer.from(leaf.fingerprint, 'hex'), publicKey: leaf.publicKey };
}

/**
 * Bytes queued towards a peer that does not read. Chat traffic is small; a peer that
 * lets this much pile up is stuck or hostile, and the session is closed with an error
 * (the mesh redials it after back-off) rather than growing memory without bound.
 */
export const MAX_QUEUED_BYTES = 8 * 1024 * 1024;

/** Bytes a stream port buffers for a reader that is behind before the session stops reading (see `openStream`). */
export const STREAM_READ_BUFFER = 1024 * 1024;

/** The session frame header (spec §4.2) of `length` stream bytes on `port`. */
function streamFrameHeader(port: number, length: number): Buffer {
  const header = Buffer.allocUnsafe(SESSION_FRAME_HEADER);
  header.writeUInt16LE(port, 0);
  header.writeUInt16LE(length, 2);
  return header;
}

export class SecureChatSession extends EventEmitter implements ChatSession {
  readonly peerIdentity: string;
  readonly peerFingerprint: Buffer;
  readonly peerId: Buffer;
  readonly remote?: Endpoint;
  readonly certificate: PeerCertificate;
  readonly stats = { messagesIn: 0, messagesOut: 0, streamFrames: 0 };
  private readonly channel: SecureChannel;
  private readonly decoder = new SessionFrameDecoder();
  private done = false;
  private error: Error | undefined;
  /** Stream ports opened with `openStream`; frames on other ports are counted and dropped. */
  private readonly streams = new Map<number, Duplex>();
  /** Ports whose reader is behind; while any is, the channel is paused. */
  private readonly stalled = new Set<number>();

  /** `certificate`: the peer's, already parsed (the transport caches them); else read from the channel. */
  constructor(channel: SecureChannel, peerId: PeerId, remote: Endpoint | undefined, certificate?: PeerCertificate) {
    super();
    this.channel = channel;
    this.certificate = certificate ?? peerCertificateOf(channel);
    this.peerIdentity = this.certificate.identity;
    this.peerFingerprint = this.certificate.fingerprint;
    this.peerId = Buffer.from(peerId);
    if (remote && remote.port > 0) this.remote = { host: remote.host, port: remote.port };
    channel.on('data', (chunk: Buffer) => {
      try {
        this.decoder.push(chunk, this.onFrame);
      } catch (err) {
        this.finish(err as Error);
      }
    });
    channel.on('error', (err: Error) => {
      this.error ??= err;
    });
    channel.on('end', () => channel.end());
    channel.on('close', () => this.finish(this.error));
  }

  get closed(): boolean {
    return this.done;
  }

  send(message: Buffer): void {
    if (this.done) return;
    if (this.channel.writableLength > MAX_QUEUED_BYTES) {
      this.finish(new NodeError(ERR_NODE_SLOW_PEER, `more than ${MAX_QUEUED_BYTES} bytes queued to ${this.peerIdentity}`));
      return;
    }
    this.stats.messagesOut++;
    this.channel.write(encodeSessionFrame(MESSAGE_PORT, message));
  }

  /**
   * One ordered byte stream on session port `port` (1..65535, spec §4.2), e.g. file-share
   * block data. Writes are cut into frames and call back once the channel drained, so a
   * writer that waits for its callbacks (pipe, `write` → false → 'drain') gets
   * back-pressure. Reads are flow-controlled too: when the stream holds
   * STREAM_READ_BUFFER bytes its reader has not taken, the session stops reading the
   * channel until the reader catches up, so the secure channel, the connection layer's
   * credit window and TCP hold the sender back and nothing here grows without bound.
   * The price is head-of-line blocking: chat messages of this session wait too, so a
   * port's reader must keep reading (or destroy the stream). Ends when the session closes.
   */
  openStream(port: number): Duplex {
    if (!Number.isInteger(port) || port <= MESSAGE_PORT || port > 0xffff) throw new NodeError(ERR_NODE_BAD_FRAME, `stream port ${port} out of range`);
    if (this.streams.has(port)) throw new NodeError(ERR_NODE_BAD_FRAME, `stream port ${port} already open`);
    const channel = this.channel;
    const stream = new Duplex({
      readableHighWaterMark: STREAM_READ_BUFFER,
      read: () => this.unstall(port),
      write: (chunk: Buffer, _encoding, callback) => {
        if (this.done) {
          callback(new NodeError(ERR_NODE_BAD_FRAME, 'the session is closed'));
          return;
        }
        // Header and data go to the channel as separate pieces (it seals them together):
        // the data is not copied to be framed. Corked, they reach it in one batch.
        let ok = true;
        channel.cork();
        for (let off = 0; off < chunk.length; off += MAX_FRAME_DATA) {
          const piece = chunk.subarray(off, off + MAX_FRAME_DATA);
          channel.write(streamFrameHeader(port, piece.length));
          ok = channel.write(piece);
        }
        channel.uncork();
        if (ok) {
          callback();
          return;
        }
        const settle = (): void => {
          channel.off('drain', settle);
          channel.off('close', settle);
          callback();
        };
        channel.on('drain', settle);
        channel.on('close', settle);
      },
      destroy: (err, callback) => {
        if (this.streams.get(port) === stream) this.streams.delete(port);
        this.unstall(port);
        callback(err);
      },
    });
    this.streams.set(port, stream);
    return stream;
  }

  close(): void {
    if (this.done) return;
    this.channel.end();
    // The close record drains; the channel's own linger bounds it. Report the close now.
    this.finish(undefined);
  }

  private readonly onFrame = (frame: SessionFrame): void => {
    if (this.done) return;
    if (frame.port !== MESSAGE_PORT) {
      this.stats.streamFrames++;
      // A port nobody opened (yet) is dropped: the protocol on it re-requests.
      const stream = this.streams.get(frame.port);
      if (stream && !stream.push(frame.data)) this.stall(frame.port);
      return;
    }
    this.stats.messagesIn++;
    this.emit('message', frame.data);
  };

  /** A port's reader is behind: stop reading the channel (back-pressure to the sender). */
  private stall(port: number): void {
    if (this.stalled.size === 0) this.channel.pause();
    this.stalled.add(port);
  }

  /** The port's reader wants more (or the port closed): read on once no port is behind. */
  private unstall(port: number): void {
    if (!this.stalled.delete(port) || this.stalled.size > 0 || this.done) return;
    this.channel.resume();
  }

  private finish(error: Error | undefined): void {
    if (this.done) return;
    this.done = true;
    if (error) this.channel.destroy();
    for (const stream of [...this.streams.values()]) {
      stream.push(null);
      stream.destroy();
    }
    this.streams.clear();
    this.emit('close', error);
  }
}
