/**
 * The full mesh of one chat, independent of transport: which sessions we hold with
 * which members, peer exchange with trigger updates, mesh status, reconnect back-off,
 * message handling (de-duplication through the history store, delivery per recipient,
 * offline re-send, history sync by IDs), typing and images, NOOP keep-alive.
 *
 * It never dials: it emits 'dial' with an end point and the integration connects and
 * hands the resulting session to `addSession` (or reports `dialFailed`).
 *
 * Events:
 *   'message'        (m: StoredMessage)             a new message (never twice)
 *   'delivery'       ({ id, recipient })            a recipient acknowledged our message
 *   'typing'         (identity)
 *   'member-online'  (identity)  / 'member-offline' (identity)
 *   'status'         (MeshStatus)                   none / partial / full
 *   'dial'           (endpoint, identity)           please connect there
 *   'plugin-message' ({ type, name, owner, payload, from })
 *   'profile-image'  ({ identity, dateModified, image }) / 'group-image' ({ dateModified, image })
 *   'key-changed'    (identity)                     a known peer came back with a new key
 *   'protocol-error' (identity, error)              its session was closed
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Endpoint } from '../types.js';
import { backoffDelay, MAX_RECONNECT_ATTEMPTS, type BackoffOptions } from './backoff.js';
import { ChatError, ERR_CHAT_KEY_MISMATCH, ERR_CHAT_PROTOCOL } from './errors.js';
import { compareHlc, type Hlc, type HybridLogicalClock } from './hlc.js';
import { type ChatRecord, HistoryStore, type StoredMessage } from './history-store.js';
import { admitIdentity, type Admission } from './membership.js';
import {
  type ChatMessage,
  decodeMessage,
  encodeMessage,
  encodePeerExchange,
  type HistoryRecord,
  HLC_BYTES,
  MAX_DELIVERY_IDS,
  MAX_FETCH_IDS,
  MAX_HISTORY_MESSAGES,
  MAX_INVENTORY_ENTRIES,
  MAX_MESSAGE_SIZE,
  MAX_PEER_EXCHANGE_PARTS,
  MESSAGE_ID_BYTES,
  type PeerInfo,
} from './message-codec.js';
import type { ChatMessageTypes } from './message-types.js';
import { type ChatSession, type Scheduler, SYSTEM_SCHEDULER } from './session.js';

/** Spec §4.3. */
export const NOOP_INTERVAL_MS = 15_000;
export const TYPING_MIN_INTERVAL_MS = 5_000;
/** How far before our newest message a returning member asks for what it missed. */
export const HISTORY_LOOKBACK_MS = 24 * 60 * 60 * 1000;
/** Inventory rounds per sync (each up to MAX_INVENTORY_ENTRIES IDs). */
export const MAX_SYNC_ROUNDS = 32;
/** Outstanding history requests per mesh; more are refused rather than queued. */
export const MAX_PENDING_REQUESTS = 64;
/** Undelivered messages re-sent to a returning recipient at once. */
export const MAX_RESEND = 2048;
const HISTORY_MESSAGES_HEADER = 1 + 4 + 1 + 2;
/**
 * Joins and leaves that come in a burst (a new member meeting everybody) produce one
 * peer list, not one per session: the trigger update waits this long. A list is O(n)
 * and goes to n sessions, so without it forming a mesh of n costs O(n^3) bytes.
 */
export const PEER_EXCHANGE_COALESCE_MS = 25;
/**
 * Peer lists arriving in a burst (one per session after a join) are evaluated once:
 * evaluation is O(sessions x peers), so doing it per list made forming a mesh of n O(n^4).
 */
export const EVALUATE_COALESCE_MS = 10;

export type MeshStatus = 'none' | 'partial' | 'full';

export interface ChatMeshOptions {
  chat: ChatRecord;
  selfIdentity: string;
  store: HistoryStore;
  clock: HybridLogicalClock;
  types: ChatMessageTypes;
  /** Private chat: the peer's e-mail, if known (else checked by network ID derivation). */
  peerIdentity?: string;
  /** Private chat with an unknown peer: the shared secret for that derivation. */
  sharedSecret?: string;
  /** Our own profile image, sent on every new session. */
  profileImage?: () => { dateModified: number; image: Buffer } | undefined;
  scheduler?: Scheduler;
  random?: () => number;
  backoff?: BackoffOptions;
  historyLookbackMs?: number;
}

interface PeerView {
  seq: number;
  parts: Array<PeerInfo[] | undefined>;
  /** The last complete list. */
  peers: PeerInfo[];
}

interface PendingRequest {
  session: ChatSession;
  mode: 'inventory' | 'fetch';
  rounds: number;
}

interface Redial {
  identity: string;
  attempts: number;
  timer?: unknown;
}

function endpointKey(ep: Endpoint): string {
  return `${ep.host}|${ep.port}`;
}

function historyRecordSize(r: HistoryRecord): number {
  return MESSAGE_ID_BYTES + HLC_BYTES + 1 + Buffer.byteLength(r.sender) + 2 + Buffer.byteLength(r.text);
}

/**
 * Stores an own text with a delivery row for every known member (the user's own
 * identity only once another device of theirs was seen) and returns it encoded.
 * Used online (then sent) and offline (sent by the re-send when members return).
 */
export function storeOutgoingText(
  store: HistoryStore,
  chat: ChatRecord,
  selfIdentity: string,
  clock: HybridLogicalClock,
  text: string,
): { message: StoredMessage; bytes: Buffer } {
  const id = randomBytes(MESSAGE_ID_BYTES);
  const hlc = clock.now();
  const bytes = encodeMessage({ kind: 'text', id, hlc, text }); // checks the size before anything is stored
  const recipients = store.members(chat.chatId);
  const m = { chatId: chat.chatId, id, sender: selfIdentity, outgoing: true, hlc, content: text, recipients };
  const res = store.addMessage(m);
  return { message: HistoryStore.asStored(m, res.seq, res.receivedAt), bytes };
}

export class ChatMesh extends EventEmitter {
  readonly chat: ChatRecord;
  readonly stats = {
    sessionsOpened: 0,
    sessionsRefused: 0,
    messagesIn: 0,
    messagesOut: 0,
    duplicates: 0,
    ignored: 0,
    protocolErrors: 0,
    peerExchangesSent: 0,
    resent: 0,
    syncedIn: 0,
    dials: 0,
  };
  private readonly opts: ChatMeshOptions;
  private readonly scheduler: Scheduler;
  private readonly random: () => number;
  private readonly sessions = new Map<string, Set<ChatSession>>();
  private readonly sessionListeners = new Map<ChatSession, { message: (b: Buffer) => void; close: (e?: Error) => void }>();
  private readonly views = new Map<ChatSession, PeerView>();
  private readonly pending = new Map<number, PendingRequest>();
  private readonly redials = new Map<string, Redial>();
  private peerExchangeSeq = 0;
  private requestSeq = 0;
  private lastTyping = -Infinity;
  private currentStatus: MeshStatus = 'none';
  private keepAlive: unknown;
  private peerExchangeTimer: unknown;
  private evaluateTimer: unknown;
  private stopped = false;

  constructor(options: ChatMeshOptions) {
    super();
    this.opts = options;
    this.chat = options.chat;
    this.scheduler = options.scheduler ?? SYSTEM_SCHEDULER;
    this.random = options.random ?? Math.random;
    this.keepAlive = this.scheduler.setInterval(() => this.broadcast({ kind: 'noop' }), NOOP_INTERVAL_MS);
  }

  get status(): MeshStatus {
    return this.currentStatus;
  }

  /** Identities we hold at least one session with (the user's own included when another device is connected). */
  onlineMembers(): string[] {
    return [...this.sessions.keys()].sort();
  }

  sessionCount(): number {
    let n = 0;
    for (const set of this.sessions.values()) n += set.size;
    return n;
  }

  /**
   * Admits a session after the secure channel: membership (§4.1), pinned key, then
   * trigger update, offline re-send, images and (when we were alone) history sync.
   * A refused session is closed and the error rethrown.
   */
  async addSession(session: ChatSession): Promise<Admission> {
    if (this.stopped) {
      session.close();
      throw new ChatError(ERR_CHAT_PROTOCOL, 'the chat is offline');
    }
    const identity = session.peerIdentity;
    let admission: Admission;
    try {
      admission = await admitIdentity(
        { kind: this.chat.kind, networkId: this.chat.networkId, selfIdentity: this.opts.selfIdentity, peerIdentity: this.opts.peerIdentity, sharedSecret: this.opts.sharedSecret },
        identity,
      );
      this.checkKey(session);
    } catch (err) {
      this.stats.sessionsRefused++;
      session.close();
      throw err;
    }
    if (this.stopped || session.closed) {
      session.close();
      throw new ChatError(ERR_CHAT_PROTOCOL, this.stopped ? 'the chat went offline' : 'the session closed while it was admitted');
    }
    const wasAlone = this.sessionCount() === 0;
    let set = this.sessions.get(identity);
    const firstOfPeer = !set;
    if (!set) this.sessions.set(identity, (set = new Set()));
    set.add(session);
    const l = { message: (b: Buffer) => this.onMessage(session, b), close: (e?: Error) => this.onClose(session, e) };
    this.sessionListeners.set(session, l);
    session.on('message', l.message);
    session.on('close', l.close);
    this.stats.sessionsOpened++;
    if (session.remote) this.clearRedial(session.remote);
    this.opts.store.addMember(this.chat.chatId, identity);
    if (firstOfPeer) this.emit('member-online', identity);

    this.schedulePeerExchange();
    this.resendUndelivered(session);
    this.sendImages(session);
    if (wasAlone) this.requestInventory(session, this.syncStart(), 0);
    this.evaluate();
    return admission;
  }

  /** The integration could not connect to an end point we asked for: retry later, bounded. */
  dialFailed(endpoint: Endpoint): void {
    const r = this.redials.get(endpointKey(endpoint));
    if (r) this.scheduleRedial(endpoint, r);
  }

  /** Sends a text to every online member; stored first, with a delivery row per known member. */
  sendText(text: string): StoredMessage {
    const { message, bytes } = storeOutgoingText(this.opts.store, this.chat, this.opts.selfIdentity, this.opts.clock, text);
    this.sendAll(bytes);
    this.stats.messagesOut++;
    return message;
  }

  /** A UI hint, at most once per TYPING_MIN_INTERVAL_MS (spec §4.3). */
  sendTyping(now: number = Date.now()): boolean {
    if (now - this.lastTyping < TYPING_MIN_INTERVAL_MS) return false;
    this.lastTyping = now;
    this.broadcast({ kind: 'typing' });
    return true;
  }

  /** Our profile image changed: tell every online member (spec §4.5). */
  announceProfileImage(dateModified: number, image: Buffer): void {
    this.broadcast({ kind: 'profile-image', dateModified, image });
  }

  /** Sets the group image if newer than the stored one and sends it to every online member. */
  setGroupImage(dateModified: number, image: Buffer): boolean {
    if (this.chat.kind !== 'group') throw new ChatError(ERR_CHAT_PROTOCOL, 'a private chat has no group image');
    const newer = this.opts.store.setGroupImage(this.chat.chatId, dateModified, image);
    if (newer) this.broadcast({ kind: 'group-image', dateModified, image });
    return newer;
  }

  /** Sends a plugin-registered message type to every online member. */
  sendPluginMessage(type: number, payload: Buffer): void {
    const entry = this.opts.types.get(type);
    if (!entry || entry.owner === 'core') throw new ChatError(ERR_CHAT_PROTOCOL, `message type ${type} is not a registered plugin type`);
    this.broadcast({ kind: 'plugin', type, name: entry.name, owner: entry.owner, payload });
  }

  /** Goes offline: closes every session, clears every timer. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.scheduler.clearInterval(this.keepAlive);
    if (this.peerExchangeTimer !== undefined) this.scheduler.clearTimeout(this.peerExchangeTimer);
    if (this.evaluateTimer !== undefined) this.scheduler.clearTimeout(this.evaluateTimer);
    for (const r of this.redials.values()) if (r.timer !== undefined) this.scheduler.clearTimeout(r.timer);
    this.redials.clear();
    this.pending.clear();
    for (const set of [...this.sessions.values()]) for (const s of [...set]) s.close();
    for (const [s, l] of this.sessionListeners) {
      s.off('message', l.message);
      s.off('close', l.close);
    }
    this.sessionListeners.clear();
    this.sessions.clear();
    this.views.clear();
    this.setStatus('none');
  }

  // ---- receiving ----

  private onMessage(session: ChatSession, bytes: Buffer): void {
    if (this.stopped) return;
    let msg: ChatMessage;
    try {
      msg = decodeMessage(bytes, this.opts.types);
      this.handle(session, msg);
    } catch (err) {
      this.stats.protocolErrors++;
      this.emit('protocol-error', session.peerIdentity, err);
      session.close();
    }
  }

  private handle(session: ChatSession, msg: ChatMessage): void {
    const from = session.peerIdentity;
    const chatId = this.chat.chatId;
    switch (msg.kind) {
      case 'noop':
        return;
      case 'typing':
        this.emit('typing', from);
        return;
      case 'text': {
        this.storeIncoming({ id: msg.id, hlc: msg.hlc, sender: from, text: msg.text });
        // Acknowledge even a duplicate: the sender may have missed our first answer.
        session.send(encodeMessage({ kind: 'delivery', ids: [msg.id] }));
        return;
      }
      case 'delivery':
        for (const id of msg.ids) {
          if (this.opts.store.markDelivered(chatId, id, from)) this.emit('delivery', { id, recipient: from });
        }
        return;
      case 'peer-exchange':
        this.onPeerExchange(session, msg.seq, msg.part, msg.parts, msg.peers);
        return;
      case 'profile-image':
        if (this.opts.store.setPeerImage(from, msg.dateModified, msg.image)) {
          this.emit('profile-image', { identity: from, dateModified: msg.dateModified, image: msg.image });
        }
        return;
      case 'group-image':
        if (this.chat.kind !== 'group') return; // spec §4.5: ignored in private chats
        if (this.opts.store.setGroupImage(chatId, msg.dateModified, msg.image)) {
          this.emit('group-image', { dateModified: msg.dateModified, image: msg.image });
        }
        return;
      case 'history-request':
        this.answerHistory(session, msg);
        return;
      case 'history-inventory':
        this.onInventory(session, msg.requestId, msg.more, msg.entries);
        return;
      case 'history-messages':
        this.onHistoryMessages(session, msg.requestId, msg.more, msg.messages);
        return;
      case 'plugin':
        this.emit('plugin-message', { type: msg.type, name: msg.name, owner: msg.owner, payload: msg.payload, from });
        return;
      case 'unknown':
        this.stats.ignored++;
        return;
    }
  }

  /** Stores a message unless seen; emits it once. Returns whether it was new. */
  private storeIncoming(r: HistoryRecord): boolean {
    const m = { chatId: this.chat.chatId, id: r.id, sender: r.sender, outgoing: r.sender === this.opts.selfIdentity, hlc: r.hlc, content: r.text };
    const res = this.opts.store.addMessage(m);
    if (!res.inserted) {
      this.stats.duplicates++;
      return false;
    }
    this.opts.clock.update(r.hlc);
    this.stats.messagesIn++;
    this.emit('message', HistoryStore.asStored(m, res.seq, res.receivedAt));
    return true;
  }

  private onClose(session: ChatSession, error?: Error): void {
    const l = this.sessionListeners.get(session);
    if (!l) return;
    session.off('message', l.message);
    session.off('close', l.close);
    this.sessionListeners.delete(session);
    this.views.delete(session);
    for (const [id, p] of this.pending) if (p.session === session) this.pending.delete(id);
    const identity = session.peerIdentity;
    const set = this.sessions.get(identity);
    set?.delete(session);
    if (set && set.size === 0) {
      this.sessions.delete(identity);
      this.emit('member-offline', identity);
    }
    if (this.stopped) return;
    // Spec §4.2: a session that died of an error (not a clean close) is redialled.
    if (error && session.remote) this.scheduleRedial(session.remote, this.redialFor(session.remote, identity));
    this.schedulePeerExchange();
    this.evaluate();
  }

  // ---- peer exchange and mesh status ----

  private schedulePeerExchange(): void {
    if (this.peerExchangeTimer !== undefined || this.stopped) return;
    this.peerExchangeTimer = this.scheduler.setTimeout(() => {
      this.peerExchangeTimer = undefined;
      if (!this.stopped) this.sendPeerExchange();
    }, PEER_EXCHANGE_COALESCE_MS);
  }

  /** Trigger update: our full peer list to every session (spec §4.5). */
  private sendPeerExchange(): void {
    if (this.sessionCount() === 0) return;
    const peers: PeerInfo[] = [];
    for (const [identity, set] of this.sessions) {
      const endpoints: Endpoint[] = [];
      const seen = new Set<string>();
      for (const s of set) {
        if (s.remote && !seen.has(endpointKey(s.remote)) && endpoints.length < 16) {
          seen.add(endpointKey(s.remote));
          endpoints.push(s.remote);
        }
      }
      peers.push({ identity, endpoints });
    }
    this.peerExchangeSeq = (this.peerExchangeSeq + 1) >>> 0;
    let parts: Buffer[];
    try {
      parts = encodePeerExchange(peers, this.peerExchangeSeq);
    } catch {
      // Past MAX_PEER_EXCHANGE_PARTS: send what fits rather than nothing.
      parts = encodePeerExchange(peers.slice(0, MAX_PEER_EXCHANGE_PARTS * 100), this.peerExchangeSeq);
    }
    for (const p of parts) this.sendAll(p);
    this.stats.peerExchangesSent++;
  }

  private onPeerExchange(session: ChatSession, seq: number, part: number, parts: number, peers: PeerInfo[]): void {
    let view = this.views.get(session);
    if (!view) this.views.set(session, (view = { seq, parts: new Array(parts), peers: [] }));
    if (seq !== view.seq || view.parts.length !== parts) {
      // A newer list started (or an older one is late: its seq differs too; newest wins by arrival).
      view.seq = seq;
      view.parts = new Array(parts);
    }
    view.parts[part] = peers;
    if (view.parts.every((p) => p !== undefined)) {
      view.peers = view.parts.flatMap((p) => p!);
      view.parts = new Array(parts);
      this.scheduleEvaluate();
    }
  }

  private scheduleEvaluate(): void {
    if (this.evaluateTimer !== undefined || this.stopped) return;
    this.evaluateTimer = this.scheduler.setTimeout(() => {
      this.evaluateTimer = undefined;
      this.evaluate();
    }, EVALUATE_COALESCE_MS);
  }

  /** Mesh status and dials for members others see but we do not. */
  private evaluate(): void {
    if (this.stopped) return;
    const connected = new Set(this.sessions.keys());
    const connectedEndpoints = new Set<string>();
    for (const set of this.sessions.values()) for (const s of set) if (s.remote) connectedEndpoints.add(endpointKey(s.remote));
    let missing = 0;
    const counted = new Set<string>();
    for (const view of this.views.values()) {
      for (const p of view.peers) {
        // Our own identity in others' lists is this device or another of ours; PEX cannot tell which.
        if (p.identity === this.opts.selfIdentity || connected.has(p.identity)) continue;
        if (!counted.has(p.identity)) { counted.add(p.identity); missing++; }
        for (const ep of p.endpoints) {
          const key = endpointKey(ep);
          if (connectedEndpoints.has(key) || this.redials.has(key)) continue;
          this.redialFor(ep, p.identity);
          this.stats.dials++;
          this.emit('dial', ep, p.identity);
        }
      }
    }
    this.setStatus(connected.size === 0 ? 'none' : missing === 0 ? 'full' : 'partial');
  }

  private setStatus(s: MeshStatus): void {
    if (s === this.currentStatus) return;
    this.currentStatus = s;
    this.emit('status', s);
  }

  private redialFor(ep: Endpoint, identity: string): Redial {
    const key = endpointKey(ep);
    let r = this.redials.get(key);
    if (!r) this.redials.set(key, (r = { identity, attempts: 0 }));
    return r;
  }

  private scheduleRedial(ep: Endpoint, r: Redial): void {
    if (this.stopped || r.timer !== undefined) return;
    if (r.attempts >= MAX_RECONNECT_ATTEMPTS) {
      // Give up until peer exchange lists the end point again.
      this.redials.delete(endpointKey(ep));
      return;
    }
    const delay = backoffDelay(r.attempts, this.random, this.opts.backoff);
    r.attempts++;
    r.timer = this.scheduler.setTimeout(() => {
      r.timer = undefined;
      if (this.stopped) return;
      this.stats.dials++;
      this.emit('dial', ep, r.identity);
    }, delay);
  }

  private clearRedial(ep: Endpoint): void {
    const key = endpointKey(ep);
    const r = this.redials.get(key);
    if (r?.timer !== undefined) this.scheduler.clearTimeout(r.timer);
    this.redials.delete(key);
  }

  // ---- sending helpers ----

  private broadcast(msg: ChatMessage): void {
    if (this.sessionCount() > 0) this.sendAll(encodeMessage(msg));
  }

  private sendAll(bytes: Buffer): void {
    for (const set of this.sessions.values()) for (const s of set) s.send(bytes);
  }

  private checkKey(session: ChatSession): void {
    const identity = session.peerIdentity;
    const open = this.sessions.get(identity);
    if (open && open.size > 0) {
      // Spec §4.1: every session of a peer presents the certificate of the first.
      const first = open.values().next().value!;
      if (!first.peerFingerprint.equals(session.peerFingerprint)) {
        throw new ChatError(ERR_CHAT_KEY_MISMATCH, `${identity} presented a different key than its open session`);
      }
      return;
    }
    if (this.opts.store.pinKey(identity, session.peerFingerprint) === 'changed') this.emit('key-changed', identity);
  }

  private resendUndelivered(session: ChatSession): void {
    const chatId = this.chat.chatId;
    for (const m of this.opts.store.undelivered(chatId, session.peerIdentity, MAX_RESEND)) {
      if (m.text === undefined) continue;
      session.send(encodeMessage({ kind: 'text', id: m.id, hlc: m.hlc, text: m.text }));
      this.stats.resent++;
    }
  }

  private sendImages(session: ChatSession): void {
    const own = this.opts.profileImage?.();
    if (own) session.send(encodeMessage({ kind: 'profile-image', ...own }));
    if (this.chat.kind === 'group') {
      const g = this.opts.store.groupImage(this.chat.chatId);
      if (g) session.send(encodeMessage({ kind: 'group-image', ...g }));
    }
  }

  // ---- history sync ----

  private syncStart(): Hlc {
    const latest = this.opts.store.latestClock(this.chat.chatId);
    if (!latest) return { wallMs: 0, counter: 0 };
    return { wallMs: Math.max(0, latest.wallMs - (this.opts.historyLookbackMs ?? HISTORY_LOOKBACK_MS)), counter: 0 };
  }

  private newRequest(session: ChatSession, mode: 'inventory' | 'fetch', rounds: number): number | undefined {
    if (this.pending.size >= MAX_PENDING_REQUESTS) return undefined;
    this.requestSeq = (this.requestSeq + 1) >>> 0;
    this.pending.set(this.requestSeq, { session, mode, rounds });
    return this.requestSeq;
  }

  private requestInventory(session: ChatSession, since: Hlc, rounds: number): void {
    if (rounds >= MAX_SYNC_ROUNDS) return;
    const requestId = this.newRequest(session, 'inventory', rounds);
    if (requestId === undefined) return;
    session.send(encodeMessage({ kind: 'history-request', requestId, mode: 'inventory', since, limit: MAX_INVENTORY_ENTRIES }));
  }

  private answerHistory(session: ChatSession, msg: Extract<ChatMessage, { kind: 'history-request' }>): void {
    const chatId = this.chat.chatId;
    if (msg.mode === 'inventory') {
      const inv = this.opts.store.inventorySince(chatId, msg.since, Math.max(1, Math.min(msg.limit, MAX_INVENTORY_ENTRIES)));
      session.send(encodeMessage({ kind: 'history-inventory', requestId: msg.requestId, more: inv.more, entries: inv.entries }));
      return;
    }
    let batch: HistoryRecord[] = [];
    let size = HISTORY_MESSAGES_HEADER;
    const flush = (more: boolean): void => {
      session.send(encodeMessage({ kind: 'history-messages', requestId: msg.requestId, more, messages: batch }));
      batch = [];
      size = HISTORY_MESSAGES_HEADER;
    };
    for (const m of this.opts.store.byIds(chatId, msg.ids)) {
      if (m.text === undefined) continue;
      const r: HistoryRecord = { id: m.id, hlc: m.hlc, sender: m.sender, text: m.text };
      const s = historyRecordSize(r);
      if (batch.length > 0 && (batch.length >= MAX_HISTORY_MESSAGES || size + s > MAX_MESSAGE_SIZE)) flush(true);
      batch.push(r);
      size += s;
    }
    flush(false); // always answer, even with none, so the requester can settle the request
  }

  private onInventory(session: ChatSession, requestId: number, more: boolean, entries: Array<{ id: Buffer; hlc: Hlc }>): void {
    const req = this.pending.get(requestId);
    if (!req || req.session !== session || req.mode !== 'inventory') { this.stats.ignored++; return; }
    this.pending.delete(requestId);
    const missing = this.opts.store.missingIds(this.chat.chatId, entries.slice(0, MAX_FETCH_IDS).map((e) => e.id));
    if (missing.length > 0) {
      const fetchId = this.newRequest(session, 'fetch', req.rounds);
      if (fetchId !== undefined) session.send(encodeMessage({ kind: 'history-request', requestId: fetchId, mode: 'fetch', ids: missing }));
    }
    const last = entries[entries.length - 1];
    if (more && last) {
      // `since` is inclusive; an answer that does not advance would loop forever.
      const first = entries[0]!;
      if (compareHlc(last.hlc, first.hlc) > 0 || entries.length === 1) this.requestInventory(session, last.hlc, req.rounds + 1);
    }
  }

  private onHistoryMessages(session: ChatSession, requestId: number, more: boolean, records: HistoryRecord[]): void {
    const req = this.pending.get(requestId);
    if (!req || req.session !== session || req.mode !== 'fetch') { this.stats.ignored++; return; }
    // A fetch may be answered in several messages: the last has `more` clear.
    if (!more) this.pending.delete(requestId);
    const bySender = new Map<string, Buffer[]>();
    for (const r of records) {
      if (!this.storeIncoming(r)) continue;
      this.stats.syncedIn++;
      if (r.sender === this.opts.selfIdentity) continue;
      let ids = bySender.get(r.sender);
      if (!ids) bySender.set(r.sender, (ids = []));
      ids.push(r.id);
    }
    // Tell the original senders we have their messages now, if they are online.
    for (const [sender, ids] of bySender) {
      const set = this.sessions.get(sender);
      if (!set) continue;
      for (let i = 0; i < ids.length; i += MAX_DELIVERY_IDS) {
        const bytes = encodeMessage({ kind: 'delivery', ids: ids.slice(i, i + MAX_DELIVERY_IDS) });
        for (const s of set) s.send(bytes);
      }
    }
  }
}
