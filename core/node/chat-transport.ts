/**
 * Carries chats over the connection layer: for every (peer, chat) one virtual channel
 * named `HMAC(networkId, localPeerId XOR remotePeerId)` (spec §2), a secure channel in
 * it keyed by the chat's network secret, and the resulting session handed to the
 * chat service (which checks membership). Dials what discovery reports for an online
 * chat and what the mesh asks for (peer exchange, reconnect after back-off).
 *
 * Both ends may dial at once and the channel name is the same from both sides, so
 * opens collide. The node with the higher peer ID waits DEFER_MS before opening and
 * gives up when the peer's channel arrived meanwhile; a collision that still happens
 * is retried (at most MAX_OPEN_ATTEMPTS) after a jittered delay.
 */
import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import type { ChatService } from '../chat/chat-service.js';
import { channelName } from '../chat/network-id.js';
import type { ChannelRequest, Connection, ConnectionManager } from '../connection/index.js';
import { ConnectionErrorCode } from '../connection/errors.js';
import type { KernelHooks } from '../hooks.js';
import { safetyNumber } from '../identity/fingerprint.js';
import { SecureChannel, verifyPeerWithHook } from '../secure-channel/index.js';
import type { Endpoint } from '../types.js';
import { ERR_NODE_UNKNOWN_CHAT, NodeError } from './errors.js';
import { peerCertificateOf, SecureChatSession, type PeerCertificate } from './secure-session.js';

/** The higher peer ID waits this long before opening, so the lower one's open usually wins. */
export const DEFER_MS = 150;
/** Open attempts per (peer, chat) dial when opens collide. */
export const MAX_OPEN_ATTEMPTS = 4;
/** Dials under way per chat; more discoveries are dropped (discovery reports again). */
export const MAX_PENDING_DIALS_PER_CHAT = 64;
/**
 * A mesh dial that ended without a session of its own (the peer's open won, or its
 * handshake then failed) is checked again after this long; still no session → the
 * mesh is told the dial failed, so its back-off retries instead of waiting forever.
 */
export const SETTLE_CHECK_MS = 1_500;
/** Peers we remember a public key for (safety numbers in the member list). */
export const MAX_KNOWN_KEYS = 4096;
/** Parsed peer certificates kept (a peer shows the same one in every chat and on every reconnect). */
export const MAX_CACHED_CERTIFICATES = 1024;
const LOCAL_HOSTS: ReadonlySet<string> = new Set(['127.0.0.1', '::1', 'localhost', '::ffff:127.0.0.1']);

export interface ChatTransportOptions {
  connections: ConnectionManager;
  chat: ChatService;
  hooks: Pick<KernelHooks, 'verifyCertificate'>;
  identity: { certificateChain: Buffer[]; privateKey: KeyObject; staple?: Buffer };
  logger: Logger;
  deferMs?: number;
  /** Where this node is reachable (the announced port); dials to it are skipped. */
  localPort: () => number;
  /** The certificate as the verifier parsed it during the handshake, if it kept it. */
  verifiedCertificate?: (der: Buffer) => PeerCertificate | undefined;
  /** See `SecureChannelOptions.peerPublicKey`: the peer's key read through the verifier's cache. */
  peerPublicKey?: (der: Buffer) => KeyObject;
  /** A session the chat admitted (membership checked); it emits 'close' when it ends. */
  admitted?: (chatId: number, session: SecureChatSession) => void;
}

export interface ChatTransportStats {
  dials: number;
  dialFailures: number;
  channelsOpened: number;
  channelsAccepted: number;
  collisions: number;
  deferredSkips: number;
  handshakeFailures: number;
  refused: number;
  sessions: number;
  droppedDiscoveries: number;
}

export class ChatTransport {
  readonly stats: ChatTransportStats = {
    dials: 0,
    dialFailures: 0,
    channelsOpened: 0,
    channelsAccepted: 0,
    collisions: 0,
    deferredSkips: 0,
    handshakeFailures: 0,
    refused: 0,
    sessions: 0,
    droppedDiscoveries: 0,
  };
  private readonly o: ChatTransportOptions;
  /** `peerIdHex|chatId` → session being set up or live. */
  private readonly busy = new Map<string, SecureChatSession | 'pending'>();
  /** `chatId` → end points being dialed. */
  private readonly dialing = new Map<number, Set<string>>();
  private readonly keys = new Map<string, { key: KeyObject; fingerprint: Buffer; safetyNumber?: string }>();
  private readonly certificates = new Map<string, PeerCertificate>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly unsubscribe: () => void;
  private stopped = false;

  constructor(options: ChatTransportOptions) {
    this.o = options;
    this.unsubscribe = options.connections.onChannel((request) => this.onChannel(request));
  }

  /** The safety number of the key a peer identity last showed (computed once per key). */
  peerSafetyNumber(identity: string): string | undefined {
    const k = this.keys.get(identity);
    if (!k) return undefined;
    k.safetyNumber ??= safetyNumber(k.key, identity);
    return k.safetyNumber;
  }

  /** Connects to `endpoint` for `chatId` unless a session with that node exists; `fromMesh` reports failures to the mesh's back-off. */
  dial(chatId: number, endpoint: Endpoint, fromMesh = false): void {
    if (this.stopped || !this.o.chat.isOnlineSafe(chatId)) return;
    if (LOCAL_HOSTS.has(endpoint.host) && endpoint.port === this.o.localPort()) return;
    const epKey = `${endpoint.host}|${endpoint.port}`;
    let set = this.dialing.get(chatId);
    if (!set) this.dialing.set(chatId, (set = new Set()));
    if (set.has(epKey)) return;
    if (set.size >= MAX_PENDING_DIALS_PER_CHAT) {
      this.stats.droppedDiscoveries++;
      if (fromMesh) this.o.chat.dialFailed(chatId, endpoint);
      return;
    }
    set.add(epKey);
    this.stats.dials++;
    void this.connectTo(chatId, endpoint)
      .then((key) => {
        if (!fromMesh || key === undefined) return;
        const t = setTimeout(() => {
          this.timers.delete(t);
          const s = this.busy.get(key);
          if (!this.stopped && !(s instanceof SecureChatSession && !s.closed)) this.o.chat.dialFailed(chatId, endpoint);
        }, SETTLE_CHECK_MS);
        this.timers.add(t);
      })
      .catch((err: unknown) => {
        this.stats.dialFailures++;
        this.o.logger.debug({ err, chatId, endpoint }, 'chat dial failed');
        if (fromMesh && !this.stopped) this.o.chat.dialFailed(chatId, endpoint);
      })
      .finally(() => set.delete(epKey));
  }

  /** Closes nothing the chat service owns; stops accepting and cancels timers. */
  stop(): void {
    this.stopped = true;
    this.unsubscribe();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const s of this.busy.values()) if (s !== 'pending') s.close();
    this.busy.clear();
  }

  /** Resolves with the (peer, chat) key when it ended without opening a session itself. */
  private async connectTo(chatId: number, endpoint: Endpoint): Promise<string | undefined> {
    let connection = await this.o.connections.connect(endpoint);
    const peerId = connection.peerId;
    const key = `${peerId.toString('hex')}|${chatId}`;
    const deferMs = this.o.deferMs ?? DEFER_MS;
    const higher = Buffer.compare(this.o.connections.peerId, peerId) > 0;
    for (let attempt = 0; attempt < MAX_OPEN_ATTEMPTS; attempt++) {
      if (this.busy.has(key)) return key;
      if (higher || attempt > 0) {
        await this.sleep(Math.round((higher ? deferMs : deferMs / 3) * (attempt + 1) * (0.5 + Math.random())));
        if (this.busy.has(key)) {
          this.stats.deferredSkips++;
          return key;
        }
      }
      if (this.stopped || !this.o.chat.isOnlineSafe(chatId)) return undefined;
      if (connection.closed) {
        // Both nodes dialed each other and the duplicate rule kept the other link: use it.
        connection = this.o.connections.getConnection(peerId) ?? (await this.o.connections.connect(endpoint));
        if (this.busy.has(key)) return key;
      }
      this.busy.set(key, 'pending');
      const name = channelName(this.chatNetworkId(chatId), this.o.connections.peerId, peerId);
      let channel;
      try {
        channel = await this.o.connections.openChannel(connection, name);
      } catch (err) {
        if (this.busy.get(key) === 'pending') this.busy.delete(key);
        if ((err as { code?: string }).code === ConnectionErrorCode.CHANNEL_EXISTS) {
          this.stats.collisions++;
          continue;
        }
        if (connection.closed && attempt + 1 < MAX_OPEN_ATTEMPTS) continue;
        throw err;
      }
      this.stats.channelsOpened++;
      const opened = channel;
      try {
        await this.secure(chatId, key, connection, () => SecureChannel.connect(opened, this.channelOptions(chatId)));
        return undefined;
      } catch (err) {
        if (connection.closed && attempt + 1 < MAX_OPEN_ATTEMPTS) continue;
        throw err;
      }
    }
    return key;
  }

  private onChannel(request: ChannelRequest): void {
    if (this.stopped) return;
    const connection = request.connection;
    const chatId = this.o.chat.chatForChannel(request.name, this.o.connections.peerId, connection.peerId);
    if (chatId === undefined) return; // not ours: another handler's, or the open times out
    const key = `${connection.peerId.toString('hex')}|${chatId}`;
    const current = this.busy.get(key);
    // A live session on an older connection is superseded: the peer found it dead.
    if (current && current !== 'pending') current.close();
    let channel;
    try {
      channel = request.accept();
    } catch (err) {
      this.o.logger.debug({ err }, 'chat channel closed before it was accepted');
      return;
    }
    this.stats.channelsAccepted++;
    this.busy.set(key, 'pending');
    void this.secure(chatId, key, connection, () => SecureChannel.accept(channel, this.channelOptions(chatId))).catch((err: unknown) => {
      this.o.logger.debug({ err, chatId }, 'inbound chat session failed');
    });
  }

  /** Runs the handshake, builds the session, hands it to the chat service. */
  private async secure(chatId: number, key: string, connection: Connection, open: () => Promise<SecureChannel>): Promise<void> {
    let session: SecureChatSession;
    try {
      const sc = await open();
      session = new SecureChatSession(sc, connection.peerId, connection.info.virtual ? undefined : connection.info.remote, this.certificateOf(sc));
    } catch (err) {
      if (this.busy.get(key) === 'pending') this.busy.delete(key);
      this.stats.handshakeFailures++;
      throw err;
    }
    if (this.stopped) {
      session.close();
      return;
    }
    this.busy.set(key, session);
    this.rememberKey(session);
    session.on('close', () => {
      if (this.busy.get(key) === session) this.busy.delete(key);
      this.stats.sessions--;
    });
    this.stats.sessions++;
    try {
      await this.o.chat.attachSession(chatId, session);
      if (!session.closed) this.o.admitted?.(chatId, session);
    } catch (err) {
      this.stats.refused++;
      this.o.logger.info({ chatId, peer: session.peerIdentity, code: (err as { code?: string }).code }, 'chat session refused');
    }
  }

  private channelOptions(chatId: number): Parameters<typeof SecureChannel.connect>[1] {
    const { certificateChain, privateKey, staple } = this.o.identity;
    return {
      psk: this.o.chat.networkSecret(chatId),
      identity: { certificateChain, privateKey },
      verifyPeer: verifyPeerWithHook(this.o.hooks.verifyCertificate, this.chatNetworkId(chatId)),
      ...(staple ? { staple } : {}),
      ...(this.o.peerPublicKey ? { peerPublicKey: this.o.peerPublicKey } : {}),
    };
  }

  private chatNetworkId(chatId: number): Buffer {
    const id = this.o.chat.networkIdOf(chatId);
    if (!id) throw new NodeError(ERR_NODE_UNKNOWN_CHAT, `chat ${chatId} is not known`);
    return id;
  }


  private certificateOf(sc: SecureChannel): PeerCertificate {
    const der = sc.peerCertificateChain[0];
    const key = der?.toString('base64');
    const hit = key !== undefined ? this.certificates.get(key) ?? (der ? this.o.verifiedCertificate?.(der) : undefined) : undefined;
    if (hit) return hit;
    const parsed = peerCertificateOf(sc);
    if (key !== undefined) {
      if (this.certificates.size >= MAX_CACHED_CERTIFICATES) this.certificates.delete(this.certificates.keys().next().value!);
      this.certificates.set(key, parsed);
    }
    return parsed;
  }

  private rememberKey(session: SecureChatSession): void {
    if (!this.keys.has(session.peerIdentity) && this.keys.size >= MAX_KNOWN_KEYS) {
      const oldest = this.keys.keys().next().value;
      if (oldest !== undefined) this.keys.delete(oldest);
    }
    const known = this.keys.get(session.peerIdentity);
    if (known?.fingerprint.equals(session.peerFingerprint)) return;
    this.keys.set(session.peerIdentity, { key: session.certificate.publicKey, fingerprint: session.peerFingerprint });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }
}
