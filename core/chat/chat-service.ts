/**
 * The chat API for the UI and the CLI: create and open chats, go online and
 * offline, send, read history, search; events for messages, deliveries, typing,
 * members and mesh status. Transport-free: the integration with the connection
 * layer and secure channel feeds admitted sessions to `attachSession`, looks chats up
 * by channel name for inbound channels, uses `networkSecret` as the PSK, and dials
 * what 'dial' asks for.
 *
 * Events (chatId first):
 *   'message' (chatId, StoredMessage)  'delivery' (chatId, { id, recipient })
 *   'typing' (chatId, identity)        'member-online' / 'member-offline' (chatId, identity)
 *   'mesh-status' (chatId, MeshStatus) 'dial' (chatId, Endpoint, identity)
 *   'plugin-message' (chatId, { type, name, owner, payload, from })
 *   'key-changed' (chatId, identity)   'protocol-error' (chatId, identity, error)
 *   'profile-image' (chatId, { identity, dateModified, image })  'group-image' (chatId, { dateModified, image })
 */
import { EventEmitter } from 'node:events';
import type { Endpoint } from '../types.js';
import { ChatError, ERR_CHAT_BAD_INPUT, ERR_CHAT_UNKNOWN_CHAT } from './errors.js';
import { HybridLogicalClock } from './hlc.js';
import type { ChatRecord, HistoryStore, Page, PageCursor, SearchOptions, SearchResult, StoredMessage } from './history-store.js';
import type { Admission } from './membership.js';
import { ChatMesh, type MeshStatus, storeOutgoingText } from './mesh.js';
import { ChatMessageTypes } from './message-types.js';
import { channelName, deriveGroupKeys, derivePrivateKeys, type NetworkKeys, normaliseEmail } from './network-id.js';
import type { BackoffOptions } from './backoff.js';
import type { ChatSession, Scheduler } from './session.js';

const FORWARDED_EVENTS = ['message', 'delivery', 'typing', 'member-online', 'member-offline', 'plugin-message', 'key-changed', 'protocol-error', 'profile-image', 'group-image'] as const;

/** What the chat service needs from the node (only that). */
export interface ChatServiceComponents {
  store: HistoryStore;
  /** The profile's identity: lower-case certificate e-mail. */
  selfIdentity: string;
  /** Message types, already extended by plugins through `hooks.registerMessageTypes`. */
  types?: ChatMessageTypes;
  clock?: HybridLogicalClock;
  /** Publish / withdraw a network ID (wired to `hooks.announce` / `hooks.withdraw`). */
  announce?: (networkId: Buffer) => Promise<void>;
  withdraw?: (networkId: Buffer) => Promise<void>;
  profileImage?: () => { dateModified: number; image: Buffer } | undefined;
  scheduler?: Scheduler;
  backoff?: BackoffOptions;
}

interface OpenChat {
  record: ChatRecord;
  keys: NetworkKeys;
  sharedSecret?: string;
  mesh?: ChatMesh;
}

export class ChatService extends EventEmitter {
  readonly types: ChatMessageTypes;
  readonly clock: HybridLogicalClock;
  private readonly c: ChatServiceComponents;
  private readonly self: string;
  private readonly open = new Map<number, OpenChat>();

  constructor(components: ChatServiceComponents) {
    super();
    this.c = components;
    this.self = normaliseEmail(components.selfIdentity);
    this.types = components.types ?? new ChatMessageTypes();
    this.clock = components.clock ?? new HybridLogicalClock();
  }

  get stats(): { chats: number; online: number; sessions: number } {
    let online = 0;
    let sessions = 0;
    for (const o of this.open.values()) if (o.mesh) { online++; sessions += o.mesh.sessionCount(); }
    return { chats: this.open.size, online, sessions };
  }

  /** Creates (or re-opens) a group chat; the shared secret stays in memory and the profile. */
  async createGroup(name: string, options: { sharedSecret?: string } = {}): Promise<ChatRecord> {
    const keys = await deriveGroupKeys(name, options.sharedSecret);
    const record = this.c.store.addChat({ networkId: keys.networkId, kind: 'group', name }); // as typed: restore() derives from it
    this.remember(record, keys, options.sharedSecret);
    return record;
  }

  /** Creates (or re-opens) a private chat with `email`; the peer is a recipient from the start. */
  async openPrivateChat(email: string, options: { sharedSecret?: string } = {}): Promise<ChatRecord> {
    const peer = normaliseEmail(email);
    if (peer === this.self) throw new ChatError(ERR_CHAT_BAD_INPUT, 'a private chat needs another person');
    const keys = await derivePrivateKeys(this.self, peer, options.sharedSecret);
    const record = this.c.store.addChat({ networkId: keys.networkId, kind: 'private', name: peer });
    this.c.store.addMember(record.chatId, peer);
    this.remember(record, keys, options.sharedSecret);
    return record;
  }

  /** After a restart: re-derive a stored chat's keys from its shared secret (held by the profile). */
  async restore(chatId: number, sharedSecret?: string): Promise<ChatRecord> {
    const record = this.c.store.chat(chatId);
    if (!record) throw new ChatError(ERR_CHAT_UNKNOWN_CHAT, `no chat ${chatId}`);
    const keys = record.kind === 'group' ? await deriveGroupKeys(record.name, sharedSecret) : await derivePrivateKeys(this.self, record.name, sharedSecret);
    // A wrong secret would silently create another chat: refuse instead.
    if (!keys.networkId.equals(record.networkId)) throw new ChatError(ERR_CHAT_BAD_INPUT, `the shared secret does not match chat ${chatId}`);
    this.remember(record, keys, sharedSecret);
    return record;
  }

  chats(): ChatRecord[] {
    return this.c.store.chats();
  }

  /** The chat's network ID (cached by the store), or undefined for a chat that is not known. */
  networkIdOf(chatId: number): Buffer | undefined {
    return this.c.store.networkIdOf(chatId);
  }

  /** The PSK of the chat's secure channels. */
  networkSecret(chatId: number): Buffer {
    return this.get(chatId).keys.networkSecret;
  }

  /** Brings a chat online: a mesh starts and the network ID is announced. */
  async goOnline(chatId: number): Promise<void> {
    const o = this.get(chatId);
    if (o.mesh) return;
    const mesh = new ChatMesh({
      chat: o.record,
      selfIdentity: this.self,
      store: this.c.store,
      clock: this.clock,
      types: this.types,
      ...(o.record.kind === 'private' ? { peerIdentity: o.record.name } : {}),
      ...(o.sharedSecret !== undefined ? { sharedSecret: o.sharedSecret } : {}),
      ...(this.c.profileImage ? { profileImage: this.c.profileImage } : {}),
      ...(this.c.scheduler ? { scheduler: this.c.scheduler } : {}),
      ...(this.c.backoff ? { backoff: this.c.backoff } : {}),
    });
    for (const ev of FORWARDED_EVENTS) mesh.on(ev, (...args: unknown[]) => this.emit(ev, chatId, ...args));
    mesh.on('status', (s: MeshStatus) => this.emit('mesh-status', chatId, s));
    mesh.on('dial', (ep: Endpoint, identity: string) => this.emit('dial', chatId, ep, identity));
    o.mesh = mesh;
    this.c.store.setOnline(chatId, true);
    await this.c.announce?.(o.record.networkId);
  }

  /** Takes a chat offline: sessions closed, announcement withdrawn. */
  async goOffline(chatId: number): Promise<void> {
    const o = this.get(chatId);
    if (!o.mesh) return;
    o.mesh.stop();
    o.mesh.removeAllListeners();
    delete o.mesh;
    this.c.store.setOnline(chatId, false);
    await this.c.withdraw?.(o.record.networkId);
  }

  /**
   * Takes the chat offline and deletes it with its history. Forgets it here too: the
   * store hands out a freed chat ID again, and a later chat must not inherit this one.
   */
  async remove(chatId: number): Promise<void> {
    if (this.isOnlineSafe(chatId)) await this.goOffline(chatId);
    this.open.delete(chatId);
    this.c.store.deleteChat(chatId);
  }

  /** Like isOnline, but false (not a throw) for a chat that is not open. */
  isOnlineSafe(chatId: number): boolean {
    return this.open.get(chatId)?.mesh !== undefined;
  }

  isOnline(chatId: number): boolean {
    return this.get(chatId).mesh !== undefined;
  }

  /** The online chat's mesh counters (sessions, peer lists, dials...), undefined when offline. */
  meshStats(chatId: number): ChatMesh['stats'] | undefined {
    return this.get(chatId).mesh?.stats;
  }

  meshStatus(chatId: number): MeshStatus {
    return this.get(chatId).mesh?.status ?? 'none';
  }

  onlineMembers(chatId: number): string[] {
    return this.get(chatId).mesh?.onlineMembers() ?? [];
  }

  /** The online chat an inbound channel is for (spec §1.6: try every online chat's channel name). */
  chatForChannel(name: Buffer, localPeerId: Buffer, remotePeerId: Buffer): number | undefined {
    for (const [chatId, o] of this.open) {
      if (o.mesh && channelName(o.record.networkId, localPeerId, remotePeerId).equals(name)) return chatId;
    }
    return undefined;
  }

  /** Hands an authenticated session to the chat's mesh (membership is checked there). */
  attachSession(chatId: number, session: ChatSession): Promise<Admission> {
    const mesh = this.get(chatId).mesh;
    if (!mesh) {
      session.close();
      return Promise.reject(new ChatError(ERR_CHAT_UNKNOWN_CHAT, `chat ${chatId} is offline`));
    }
    return mesh.addSession(session);
  }

  /** The integration could not reach an end point the mesh asked for: the mesh retries with back-off. */
  dialFailed(chatId: number, endpoint: Endpoint): void {
    this.open.get(chatId)?.mesh?.dialFailed(endpoint);
  }

  /** Stores and sends a text; members offline now get it when they return. */
  send(chatId: number, text: string): StoredMessage {
    const o = this.get(chatId);
    if (o.mesh) return o.mesh.sendText(text);
    // Offline chat: stored with its recipients; re-sent when each of them is back.
    return storeOutgoingText(this.c.store, o.record, this.self, this.clock, text).message;
  }

  sendTyping(chatId: number): boolean {
    return this.get(chatId).mesh?.sendTyping() ?? false;
  }

  /** Sends a plugin-registered message type to the chat's online members. */
  sendPluginMessage(chatId: number, type: number, payload: Buffer): void {
    const mesh = this.get(chatId).mesh;
    if (!mesh) throw new ChatError(ERR_CHAT_UNKNOWN_CHAT, `chat ${chatId} is offline`);
    mesh.sendPluginMessage(type, payload);
  }

  /** Our profile image changed: every online chat tells its members. */
  announceProfileImage(dateModified: number, image: Buffer): void {
    for (const o of this.open.values()) o.mesh?.announceProfileImage(dateModified, image);
  }

  /** Newest date wins; sent to the online members when it is newer. */
  setGroupImage(chatId: number, dateModified: number, image: Buffer): boolean {
    const o = this.get(chatId);
    if (o.mesh) return o.mesh.setGroupImage(dateModified, image);
    return this.c.store.setGroupImage(chatId, dateModified, image);
  }

  history(chatId: number, options: { before?: PageCursor; limit?: number } = {}): Page {
    this.get(chatId);
    return this.c.store.page(chatId, options);
  }

  search(query: string, options: SearchOptions = {}): SearchResult {
    return this.c.store.search(query, options);
  }

  /** Every chat offline; the store stays open (the kernel owns it). */
  async stop(): Promise<void> {
    for (const chatId of [...this.open.keys()]) await this.goOffline(chatId);
  }

  private remember(record: ChatRecord, keys: NetworkKeys, sharedSecret?: string): void {
    const existing = this.open.get(record.chatId);
    if (existing) {
      existing.keys = keys;
      if (sharedSecret !== undefined) existing.sharedSecret = sharedSecret;
      return;
    }
    this.open.set(record.chatId, { record, keys, ...(sharedSecret !== undefined ? { sharedSecret } : {}) });
  }

  private get(chatId: number): OpenChat {
    const o = this.open.get(chatId);
    if (!o) throw new ChatError(ERR_CHAT_UNKNOWN_CHAT, `chat ${chatId} is not open (create or restore it first)`);
    return o;
  }
}
