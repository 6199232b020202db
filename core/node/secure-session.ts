/**
 * A ChatSession over one secure channel (one peer, one chat): session frames of
 * spec §4.2 in the channel's byte stream, port 0 = one chat message. The peer's
 * identity is the certificate e-mail of the chain its handshake proved.
 */
import { EventEmitter } from 'node:events';
import type { KeyObject } from 'node:crypto';
import type { ChatSession } from '../chat/session.js';
import { parseCertificate } from '../identity/certificate.js';
import type { SecureChannel } from '../secure-channel/index.js';
import type { Endpoint, PeerId } from '../types.js';
import { ERR_NODE_NO_IDENTITY, ERR_NODE_SLOW_PEER, NodeError } from './errors.js';
import { encodeSessionFrame, MESSAGE_PORT, SessionFrameDecoder, type SessionFrame } from './session-frame.js';

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

  close(): void {
    if (this.done) return;
    this.channel.end();
    // The close record drains; the channel's own linger bounds it. Report the close now.
    this.finish(undefined);
  }

  private readonly onFrame = (frame: SessionFrame): void => {
    if (this.done) return;
    if (frame.port !== MESSAGE_PORT) {
      // Data streams (file sharing) are not wired yet: ignored, counted.
      this.stats.streamFrames++;
      return;
    }
    this.stats.messagesIn++;
    this.emit('message', frame.data);
  };

  private finish(error: Error | undefined): void {
    if (this.done) return;
    this.done = true;
    if (error) this.channel.destroy();
    this.emit('close', error);
  }
}
