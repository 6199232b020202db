/**
 * The chat side of an unlocked node: history store (key from the profile), chat
 * service, transport, and the facade the UI and CLI use (registered as service
 * `chat`). Chat secrets live in the profile, never in the database.
 *
 * Facade events (chatId first): 'message' (StoredMessage), 'delivery' ({ id, recipient }),
 * 'typing' (identity), 'member' ({ identity, online }), 'mesh' (MeshStatus);
 * 'invitation' (Invitation), without a chatId first: a pending inbound invitation;
 * 'invitation-sent' (OutgoingInvitation): an outgoing invitation was sent;
 * 'invitation-delivered' (chatId, Endpoint): an outgoing invitation reached the invitee's node;
 * 'invitation-ended' (InvitationEnd): an invitation, inbound or outgoing, left the lists.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { ChatService } from '../chat/chat-service.js';
import { HistoryStore, type ChatRecord, type Page, type PageCursor, type SearchOptions, type SearchResult, type StoredMessage } from '../chat/history-store.js';
import type { MeshStatus } from '../chat/mesh.js';
import { ChatMessageTypes } from '../chat/message-types.js';
import type { ConnectionManager } from '../connection/index.js';
import type { KernelHooks } from '../hooks.js';
import type { Profile } from '../identity/profile.js';
import type { Storage } from '../storage.js';
import type { Endpoint, NetworkId } from '../types.js';
import { normaliseEmail } from '../chat/network-id.js';
import { ChatTransport } from './chat-transport.js';
import { ERR_NODE_INVITATION_SECRET, NodeError } from './errors.js';
import { assertInvitationText, type Invitation, Invitations, type InvitationsHost, type OutgoingInvitation } from './invitations.js';
import type { PeerCertificate, SecureChatSession } from './secure-session.js';

export const HISTORY_KEY_SETTING = 'historyKey';
export const CHAT_SECRETS_SETTING = 'chatSecrets';
const HISTORY_KEY_BYTES = 32;

export interface ChatNodeOptions {
  hooks: KernelHooks;
  connections: ConnectionManager;
  storage: Storage;
  logger: Logger;
  profile: Profile;
  /** Saves the profile (new chat secret, history key); a no-op without a profile file. */
  persist: () => Promise<void>;
  /** The peer certificate the verifier already parsed, if any (saves parsing it again). */
  verifiedCertificate?: (der: Buffer) => PeerCertificate | undefined;
  /** The peer leaf's public key through the verifier's parse cache (the handshake then parses it once). */
  peerPublicKey?: (der: Buffer) => KeyObject;
  /** The DHT and LAN discovery services, if loaded: invitation masks are announced and looked up there. */
  dht?: InvitationsHost['dht'];
  lan?: InvitationsHost['lan'];
  /** How often an inviter looks the invitee up (tests shorten it). */
  invitationLookupMs?: number;
}

export interface ChatSummary {
  chatId: number;
  /** 20 bytes: what discovery announces. */
  networkId: Buffer;
  kind: 'group' | 'private';
  name: string;
  online: boolean;
  mesh: MeshStatus;
  members: string[];
}

export interface MemberInfo {
  identity: string;
  online: boolean;
  /** Present once a session showed the member's key. */
  safetyNumber?: string;
}

/** An admitted member session, for plugins that run their own traffic beside the chat (file sharing). */
export interface MemberSession {
  chatId: number;
  /** 20 bytes; the same on every member's node, unlike `chatId`. */
  networkId: Buffer;
  /** The peer's identity (lower-case e-mail), as `hooks.message` reports it in `from`. */
  peer: string;
  /** The peer's certificate fingerprint. */
  fingerprint: Buffer;
  /** Its `send(message)` (port 0), `openStream(port)`, `close()`, and 'close' event. */
  session: SecureChatSession;
}

export class ChatNode extends EventEmitter {
  readonly service: ChatService;
  readonly transport: ChatTransport;
  readonly store: HistoryStore;
  readonly invitations: Invitations;
  private readonly o: ChatNodeOptions;
  private readonly open = new Set<MemberSession>();
  private readonly sessionListeners = new Set<(s: MemberSession) => void>();

  private constructor(o: ChatNodeOptions, store: HistoryStore, service: ChatService, transport: ChatTransport) {
    super();
    this.o = o;
    this.store = store;
    this.service = service;
    this.transport = transport;
    const { profile } = o;
    this.invitations = new Invitations({
      connections: o.connections,
      hooks: o.hooks,
      service,
      store,
      logger: o.logger,
      selfEmail: profile.email,
      identity: { certificateChain: profile.certificateChain, privateKey: profile.privateKey, ...(profile.staple ? { staple: profile.staple } : {}) },
      settings: profile.settings,
      persist: o.persist,
      hasSecret: (email) => this.store.chats().some((c) => c.kind === 'private' && c.name === email && this.secretOf(c.networkId) !== undefined),
      emit: (event, value) => this.emit(event, value),
      emitDelivered: (chatId, endpoint) => this.emit('invitation-delivered', chatId, endpoint),
      emitMessage: (chatId, m) => this.emit('message', chatId, m),
      ...(o.dht ? { dht: o.dht } : {}),
      ...(o.lan ? { lan: o.lan } : {}),
      ...(o.invitationLookupMs !== undefined ? { lookupIntervalMs: o.invitationLookupMs } : {}),
    });
  }

  get stats(): { chat: ChatService['stats']; transport: ChatTransport['stats']; invitations: Invitations['stats'] } {
    return { chat: this.service.stats, transport: this.transport.stats, invitations: this.invitations.stats };
  }

  /** Builds the chat side and brings back every chat that was online. */
  static async start(o: ChatNodeOptions): Promise<ChatNode> {
    const { profile, hooks, connections } = o;
    let keyB64 = profile.settings[HISTORY_KEY_SETTING];
    if (typeof keyB64 !== 'string' || Buffer.from(keyB64, 'base64').length !== HISTORY_KEY_BYTES) {
      keyB64 = randomBytes(HISTORY_KEY_BYTES).toString('base64');
      profile.settings[HISTORY_KEY_SETTING] = keyB64;
      await o.persist();
    }
    const store = new HistoryStore(o.storage.db, Buffer.from(keyB64 as string, 'base64'));
    const types = new ChatMessageTypes();
    hooks.registerMessageTypes.call(types);
    const service = new ChatService({
      store,
      selfIdentity: profile.email,
      types,
      announce: (networkId) => hooks.announce.promise({ networkId, port: connections.localPort }),
      withdraw: (networkId) => hooks.withdraw.promise(networkId),
    });
    let onAdmitted: (chatId: number, session: SecureChatSession) => void = () => undefined;
    const transport = new ChatTransport({
      admitted: (chatId, session) => onAdmitted(chatId, session),
      connections,
      chat: service,
      hooks,
      identity: { certificateChain: profile.certificateChain, privateKey: profile.privateKey, ...(profile.staple ? { staple: profile.staple } : {}) },
      logger: o.logger,
      localPort: () => connections.localPort,
      ...(o.verifiedCertificate ? { verifiedCertificate: o.verifiedCertificate } : {}),
      ...(o.peerPublicKey ? { peerPublicKey: o.peerPublicKey } : {}),
    });
    const node = new ChatNode(o, store, service, transport);
    onAdmitted = (chatId, session) => node.admitted(chatId, session);
    node.wire();
    return node;
  }

  /** This node's identity (lower-case e-mail): what peers see in `from`. */
  get selfIdentity(): string {
    return this.o.profile.email.toLowerCase();
  }

  /**
   * Calls `listener` for every admitted member session, the open ones first; a
   * session's end is its 'close' event. Returns the unsubscribe function.
   */
  onSession(listener: (s: MemberSession) => void): () => void {
    this.sessionListeners.add(listener);
    for (const s of [...this.open]) if (!s.session.closed) listener(s);
    return () => this.sessionListeners.delete(listener);
  }

  private admitted(chatId: number, session: SecureChatSession): void {
    const networkId = this.networkIdOf(chatId);
    if (!networkId) return;
    const s: MemberSession = { chatId, networkId, peer: session.peerIdentity, fingerprint: session.peerFingerprint, session };
    this.open.add(s);
    session.once('close', () => this.open.delete(s));
    for (const listener of [...this.sessionListeners]) {
      try {
        listener(s);
      } catch (err) {
        this.o.logger.warn({ err }, 'a session listener failed');
      }
    }
  }

  /** Re-opens every stored chat and brings back online those that were (call once the node is reachable as `chat`). */
  async resume(): Promise<void> {
    for (const record of this.store.chats()) {
      try {
        await this.service.restore(record.chatId, this.secretOf(record.networkId));
        if (record.online) await this.service.goOnline(record.chatId);
      } catch (err) {
        this.o.logger.warn({ err, chatId: record.chatId }, 'a stored chat could not be restored');
      }
    }
    await this.invitations.start();
  }

  /** Every chat offline, transport stopped; the store stays (the kernel's storage owns the database). */
  async stop(): Promise<void> {
    await this.invitations.stop();
    // Meshes first: a stopped mesh ignores its sessions closing (no trigger update or
    // re-evaluation per session, which made stopping a big mesh quadratic per node).
    // goOffline clears the stored online flag, which must survive a restart: put it back.
    for (const record of this.store.chats()) {
      if (this.service.isOnlineSafe(record.chatId)) await this.service.goOffline(record.chatId).catch(() => undefined);
      this.store.setOnline(record.chatId, record.online);
    }
    this.transport.stop();
    this.service.removeAllListeners();
    this.sessionListeners.clear();
  }

  /** A discovery source found `endpoint` for `networkId`: connect when it is one of our online chats. */
  peerDiscovered(networkId: NetworkId, endpoint: Endpoint): void {
    const record = this.store.chatByNetworkId(networkId);
    if (record && this.service.isOnlineSafe(record.chatId)) this.transport.dial(record.chatId, endpoint);
    else this.invitations.peerDiscovered(networkId, endpoint);
  }

  /**
   * Invites `email` into a private chat (spec §2.6, encrypted): the chat is opened and
   * brought online, `text` is its first message, and it is delivered to the invitee's
   * node as soon as discovery finds it, until the invitee joins.
   */
  async invite(email: string, text: string): Promise<ChatSummary> {
    const peer = normaliseEmail(email);
    // Checked before the chat is opened; `invitations.invite` checks the same again.
    assertInvitationText(text);
    if (this.invitations.hasSecret(peer)) throw new NodeError(ERR_NODE_INVITATION_SECRET, 'a private chat with a shared secret cannot be invited into (spec §2.6)');
    const summary = await this.openPrivateChat(peer);
    if (!this.service.onlineMembers(summary.chatId).includes(peer)) await this.invitations.invite(summary.chatId, peer, text);
    else this.service.send(summary.chatId, text);
    return this.summary(this.store.chat(summary.chatId)!);
  }

  /** Pending inbound invitations (each holds an offline private chat). */
  pendingInvitations(): Invitation[] {
    return this.invitations.list();
  }

  /** Invitations we sent, until the invitee joins, we cancel them or leave the chat (kept in the profile). */
  outgoingInvitations(): OutgoingInvitation[] {
    return this.invitations.pendingOutgoing();
  }

  /** Cancels our invitation to `email`: no more lookups or deliveries; the chat and its messages stay. */
  async cancelInvitation(email: string): Promise<void> {
    await this.invitations.cancel(email);
  }

  /** Accepts the invitation from `email`: its text becomes the first message and the chat goes online. */
  async acceptInvitation(email: string): Promise<ChatSummary> {
    const chatId = await this.invitations.accept(email);
    return this.summary(this.store.chat(chatId)!);
  }

  /** Declines the invitation from `email`: its offline chat is deleted. */
  async declineInvitation(email: string): Promise<void> {
    await this.leave(await this.invitations.decline(email));
  }

  /** Inbound invitations on/off and "LAN only" (kept in the profile). */
  setInvitationPolicy(policy: { allow?: boolean; lanOnly?: boolean }): Promise<{ allow: boolean; lanOnly: boolean }> {
    return this.invitations.setPolicy(policy);
  }

  list(): ChatSummary[] {
    return this.store.chats().map((c) => this.summary(c));
  }

  /** Creates (or re-opens) a group and brings it online. */
  async createGroup(name: string, secret?: string): Promise<ChatSummary> {
    const record = await this.service.createGroup(name, secret !== undefined ? { sharedSecret: secret } : {});
    await this.keepSecret(record.networkId, secret);
    await this.service.goOnline(record.chatId);
    return this.summary(record);
  }

  /** Creates (or re-opens) a private chat with `email` and brings it online. */
  async openPrivateChat(email: string, secret?: string): Promise<ChatSummary> {
    const record = await this.service.openPrivateChat(email, secret !== undefined ? { sharedSecret: secret } : {});
    await this.keepSecret(record.networkId, secret);
    await this.service.goOnline(record.chatId);
    return this.summary(record);
  }

  goOnline(chatId: number): Promise<void> {
    return this.service.goOnline(chatId);
  }

  goOffline(chatId: number): Promise<void> {
    return this.service.goOffline(chatId);
  }

  send(chatId: number, text: string): StoredMessage {
    return this.service.send(chatId, text);
  }

  history(chatId: number, options: { before?: PageCursor; limit?: number } = {}): Page {
    return this.service.history(chatId, options);
  }

  search(query: string, options: SearchOptions = {}): SearchResult {
    return this.service.search(query, options);
  }

  typing(chatId: number): boolean {
    return this.service.sendTyping(chatId);
  }

  members(chatId: number): MemberInfo[] {
    const online = new Set(this.service.isOnlineSafe(chatId) ? this.service.onlineMembers(chatId) : []);
    const all = new Set([...this.store.members(chatId), ...online]);
    return [...all].sort().map((identity) => {
      const digits = this.transport.peerSafetyNumber(identity);
      return { identity, online: online.has(identity), ...(digits !== undefined ? { safetyNumber: digits } : {}) };
    });
  }

  /** Leaves a chat: offline, history and secret deleted. */
  async leave(chatId: number): Promise<void> {
    const record = this.store.chat(chatId);
    if (!record) return;
    await this.invitations.forget(chatId);
    await this.service.remove(chatId);
    const secrets = this.secrets();
    if (secrets[record.networkId.toString('hex')] !== undefined) {
      delete secrets[record.networkId.toString('hex')];
      await this.o.persist();
    }
  }

  private summary(c: ChatRecord): ChatSummary {
    const online = this.service.isOnlineSafe(c.chatId);
    return { chatId: c.chatId, networkId: c.networkId, kind: c.kind, name: c.name, online, mesh: online ? this.service.meshStatus(c.chatId) : 'none', members: this.store.members(c.chatId) };
  }

  private wire(): void {
    const s = this.service;
    const { hooks, logger } = this.o;
    const toHook = (networkId: Buffer, type: number, from: string, body: unknown): void => {
      hooks.message.promise({ networkId, type, from, body }).catch((err: unknown) => logger.warn({ err }, 'a message tap failed'));
    };
    s.on('message', (chatId: number, m: StoredMessage) => {
      this.emit('message', chatId, m);
      const networkId = this.networkIdOf(chatId);
      if (networkId) toHook(networkId, m.type, m.sender, m);
    });
    s.on('plugin-message', (chatId: number, m: { type: number; from: string; payload: Buffer }) => {
      const networkId = this.networkIdOf(chatId);
      // Plugins get the payload after the type byte (file-share re-frames it with its own codec).
      if (networkId) toHook(networkId, m.type, m.from, m.payload);
    });
    s.on('delivery', (chatId: number, d: unknown) => this.emit('delivery', chatId, d));
    s.on('typing', (chatId: number, identity: string) => this.emit('typing', chatId, identity));
    s.on('member-online', (chatId: number, identity: string) => {
      // The invitee joined: the invitation is answered (another device of ours does not count).
      if (identity !== this.selfIdentity) this.invitations.answered(chatId).catch((err: unknown) => logger.warn({ err, chatId }, 'an answered invitation could not be dropped from the profile'));
      this.emit('member', chatId, { identity, online: true });
    });
    s.on('member-offline', (chatId: number, identity: string) => this.emit('member', chatId, { identity, online: false }));
    s.on('mesh-status', (chatId: number, status: MeshStatus) => this.emit('mesh', chatId, status));
    s.on('dial', (chatId: number, endpoint: Endpoint) => this.transport.dial(chatId, endpoint, true));
    s.on('protocol-error', (chatId: number, identity: string, err: unknown) => logger.info({ chatId, peer: identity, err }, 'chat protocol error'));
  }

  private networkIdOf(chatId: number): Buffer | undefined {
    return this.store.networkIdOf(chatId);
  }

  private secrets(): Record<string, string> {
    let v = this.o.profile.settings[CHAT_SECRETS_SETTING];
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.o.profile.settings[CHAT_SECRETS_SETTING] = v = {};
    return v as Record<string, string>;
  }

  private secretOf(networkId: Buffer): string | undefined {
    const v = this.secrets()[networkId.toString('hex')];
    return typeof v === 'string' ? v : undefined;
  }

  private async keepSecret(networkId: Buffer, secret: string | undefined): Promise<void> {
    if (secret === undefined || this.secretOf(networkId) === secret) return;
    this.secrets()[networkId.toString('hex')] = secret;
    await this.o.persist();
  }
}
