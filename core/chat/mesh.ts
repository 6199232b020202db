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
 * A new session gets our list after this delay (it needs it to find the others).
 */
export const PEER_EXCHANGE_COALESCE_MS = 25;
/**
 * The trigger update to the sessions we already had waits longer in a big mesh
 * (this much per session, at most PEER_EXCHANGE_MAX_COALESCE_MS): while a mesh of n
 * forms, every member sees n joins, and a list per join to n sessions made peer lists
 * about a third of all CPU time at n = 50 (measured). A newcomer is not slowed: it
 * gets our list at once and dials the members; the others learn of it within the window.
 */
export const PEER_EXCHANGE_COALESCE_PER_SESSION_MS = 10;
export const PEER_EXCHANGE_MAX_COALESCE_MS = 1_000;
/**
 * Peer lists arriving in a burst (one per session after a join) are evaluated once:
 * evaluation is O(sessions x peers), so doing it per list made forming a mesh of n O(n^4).
 */
export const EVALUATE_COALESCE_MS = 10;
/**
 * Two members that learn of each other from the same peer list would dial each other
 * at once: two handshakes, a channel collision, one session torn down. Only the one
 * with the lower identity dials at once; the other dials after this grace (+-20 %) if
 * no session came, so a member the first cannot reach is still connected.
 */
export const PEX_DIAL_GRACE_MS = 3_000;

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
  /** Its identities: whom the peer holds sessions with. */
  identities: Set<string>;
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

/** What the peer lists we hold say about one identity, summed over the sessions that sent them. */
interface Listed {
  /** Lists (one per session) naming it. */
  lists: number;
  /** End point key → the end point and how many lists give it. */
  endpoints: Map<string, { endpoint: Endpoint; lists: number }>;
}

function endpointKey(ep: Endpoint): string {
  return `${ep.host}|${ep.port}`;
}

function samePeer(a: PeerInfo, b: PeerInfo): boolean {
  if (a.identity !== b.identity || a.endpoints.length !== b.endpoints.length) return false;
  for (let i = 0; i < a.endpoints.length; i++) {
    if (a.endpoints[i]!.host !== b.endpoints[i]!.host || a.endpoints[i]!.port !== b.endpoints[i]!.port) return false;
  }
  return true;
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
    peerExchangesReceived: 0,
    /** Trigger updates not sent to a session because the list held nothing it lacked. */
    peerExchangesSkipped: 0,
    resent: 0,
    syncedIn: 0,
    dials: 0,
    deferredDials: 0,
  };
  private readonly opts: ChatMeshOptions;
  private readonly scheduler: Scheduler;
  private readonly random: () => number;
  private readonly sessions = new Map<string, Set<ChatSession>>();
  private readonly sessionListeners = new Map<ChatSession, { message: (b: Buffer) => void; close: (e?: Error) => void }>();
  private readonly views = new Map<ChatSession, PeerView>();
  private readonly pending = new Map<number, PendingRequest>();
  private readonly redials = new Map<string, Redial>();
  /**
   * The union of the complete peer lists of all sessions, kept up to date as lists
   * arrive and sessions close, so evaluating the mesh is O(members), not
   * O(sessions x members) per session change (which made forming a mesh O(n^3) per node).
   */
  private readonly listed = new Map<string, Listed>();
  /** End point key → sessions whose peer listens there. */
  private readonly connectedEndpoints = new Map<string, number>();
  private peerExchangeSeq = 0;
  private requestSeq = 0;
  private lastTyping = -Infinity;
  private currentStatus: MeshStatus = 'none';
  private keepAlive: unknown;
  private peerExchangeTimer: unknown;
  /** New sessions that have not had our peer list yet, and the timer that sends it to them. */
  private readonly introductions = new Set<ChatSession>();
  /** Per session, the entries (identity + end points) of the last list we sent it. */
  private readonly sentTo = new Map<ChatSession, Set<string>>();
  private introductionTimer: unknown;
  private evaluateTimer: unknown;
  /**
   * Acknowledgements to send (per session) and received ones to record, flushed once per
   * turn of the event loop: a burst of texts is answered with one Delivery per session,
   * and a group's n acknowledgements of one message are stored in one transaction. It
   * also keeps the answer off the path of the next message in the same read.
   */
  private readonly acksOut = new Map<ChatSession, Buffer[]>();
  private acksIn: Array<{ id: Buffer; recipient: string }> = [];
  private ackFlush: NodeJS.Immediate | undefined;
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
    if (session.remote) {
      const key = endpointKey(session.remote);
      this.connectedEndpoints.set(key, (this.connectedEndpoints.get(key) ?? 0) + 1);
      this.clearRedial(session.remote);
    }
    this.opts.store.addMember(this.chat.chatId, identity);
    if (firstOfPeer) this.emit('member-online', identity);

    this.introduce(session);
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
    if (this.introductionTimer !== undefined) this.scheduler.clearTimeout(this.introductionTimer);
    this.introductions.clear();
    if (this.evaluateTimer !== undefined) this.scheduler.clearTimeout(this.evaluateTimer);
    if (this.ackFlush !== undefined) clearImmediate(this.ackFlush);
    this.ackFlush = undefined;
    this.acksOut.clear();
    this.acksIn = [];
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
    this.sentTo.clear();
    this.listed.clear();
    this.connectedEndpoints.clear();
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
        let ids = this.acksOut.get(session);
        if (!ids) this.acksOut.set(session, (ids = []));
        ids.push(msg.id);
        this.scheduleAckFlush();
        return;
      }
      case 'delivery':
        for (const id of msg.ids) this.acksIn.push({ id, recipient: from });
        this.scheduleAckFlush();
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

  private scheduleAckFlush(): void {
    if (this.ackFlush !== undefined) return;
    this.ackFlush = setImmediate(() => {
      this.ackFlush = undefined;
      if (this.stopped) return;
      for (const [session, ids] of this.acksOut) {
        if (!this.sessionListeners.has(session)) continue; // closed: the sender re-sends, we acknowledge then
        for (let i = 0; i < ids.length; i += MAX_DELIVERY_IDS) session.send(encodeMessage({ kind: 'delivery', ids: ids.slice(i, i + MAX_DELIVERY_IDS) }));
      }
      this.acksOut.clear();
      const acks = this.acksIn;
      this.acksIn = [];
      if (acks.length === 0) return;
      const changed = this.opts.store.markDeliveredMany(this.chat.chatId, acks);
      acks.forEach((a, i) => {
        if (changed[i]) this.emit('delivery', a);
      });
    });
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
    const view = this.views.get(session);
    if (view) this.unlist(view.peers);
    this.views.delete(session);
    this.sentTo.delete(session);
    if (session.remote) {
      const key = endpointKey(session.remote);
      const n = (this.connectedEndpoints.get(key) ?? 1) - 1;
      if (n > 0) this.connectedEndpoints.set(key, n);
      else this.connectedEndpoints.delete(key);
    }
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
    const window = Math.min(PEER_EXCHANGE_MAX_COALESCE_MS, Math.max(PEER_EXCHANGE_COALESCE_MS, this.sessionCount() * PEER_EXCHANGE_COALESCE_PER_SESSION_MS));
    this.peerExchangeTimer = this.scheduler.setTimeout(() => {
      this.peerExchangeTimer = undefined;
      if (this.stopped) return;
      this.introductions.clear();
      this.sendPeerExchange(this.allSessions(), true);
    }, window);
  }

  /** A new session gets our list soon, before the (longer) trigger update to everybody. */
  private introduce(session: ChatSession): void {
    this.introductions.add(session);
    if (this.introductionTimer !== undefined) return;
    this.introductionTimer = this.scheduler.setTimeout(() => {
      this.introductionTimer = undefined;
      if (this.stopped) return;
      const to = [...this.introductions].filter((s) => this.sessionListeners.has(s));
      this.introductions.clear();
      if (to.length > 0) this.sendPeerExchange(to);
    }, PEER_EXCHANGE_COALESCE_MS);
  }

  /**
   * Our full peer list (spec §4.5) to `to`. A trigger update (`onlyNews`) skips a
   * session when the list holds nothing it lacks: no entry we have not sent it before
   * (or whose end points changed) that is not the session's own peer or already in the
   * list that peer sent us, and no entry gone since. Once a mesh has formed, the
   * members' last lists were all such repeats (n lists to n sessions each).
   */
  private sendPeerExchange(to: Iterable<ChatSession>, onlyNews = false): void {
    if (this.sessionCount() === 0) return;
    const peers: PeerInfo[] = [];
    const keys: string[] = [];
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
      keys.push(`${identity}\n${[...seen].join(' ')}`);
    }
    const targets = onlyNews ? [...to].filter((s) => this.hasNewsFor(s, peers, keys)) : [...to];
    if (onlyNews) this.stats.peerExchangesSkipped += this.sessionCount() - targets.length;
    if (targets.length === 0) return;
    this.peerExchangeSeq = (this.peerExchangeSeq + 1) >>> 0;
    let parts: Buffer[];
    try {
      parts = encodePeerExchange(peers, this.peerExchangeSeq);
    } catch {
      // Past MAX_PEER_EXCHANGE_PARTS: send what fits rather than nothing.
      parts = encodePeerExchange(peers.slice(0, MAX_PEER_EXCHANGE_PARTS * 100), this.peerExchangeSeq);
    }
    const sent = new Set(keys);
    for (const s of targets) {
      for (const p of parts) s.send(p);
      this.sentTo.set(s, sent);
    }
    this.stats.peerExchangesSent++;
  }

  private hasNewsFor(session: ChatSession, peers: PeerInfo[], keys: string[]): boolean {
    const before = this.sentTo.get(session);
    if (!before) return true;
    const theirs = this.views.get(session)?.identities;
    let kept = 0;
    for (let i = 0; i < peers.length; i++) {
      if (before.has(keys[i]!)) {
        kept++;
        continue;
      }
      const identity = peers[i]!.identity;
      if (identity !== session.peerIdentity && !theirs?.has(identity)) return true;
    }
    // Fewer of the entries it got are still true: it must drop the others.
    return kept < before.size;
  }

  private *allSessions(): Iterable<ChatSession> {
    for (const set of this.sessions.values()) yield* set;
  }

  private onPeerExchange(session: ChatSession, seq: number, part: number, parts: number, peers: PeerInfo[]): void {
    let view = this.views.get(session);
    if (!view) this.views.set(session, (view = { seq, parts: new Array(parts), peers: [], identities: new Set() }));
    if (seq !== view.seq || view.parts.length !== parts) {
      // A newer list started (or an older one is late: its seq differs too; newest wins by arrival).
      view.seq = seq;
      view.parts = new Array(parts);
    }
    view.parts[part] = peers;
    if (view.parts.every((p) => p !== undefined)) {
      this.stats.peerExchangesReceived++;
      const peers = view.parts.flatMap((p) => p!);
      // A sender's lists grow by appending (its sessions in the order they opened):
      // only what follows the common prefix changes the union.
      const old = view.peers;
      let same = 0;
      while (same < old.length && same < peers.length && samePeer(old[same]!, peers[same]!)) same++;
      // Add before removing: entries that moved keep counts above zero.
      this.list(peers, same);
      this.unlist(old, same);
      view.peers = peers;
      view.identities = new Set(peers.map((p) => p.identity));
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

  /** Adds one session's complete peer list (from index `from`) to the union. */
  private list(peers: PeerInfo[], from = 0): void {
    for (let i = from; i < peers.length; i++) {
      const p = peers[i]!;
      let l = this.listed.get(p.identity);
      if (!l) this.listed.set(p.identity, (l = { lists: 0, endpoints: new Map() }));
      l.lists++;
      for (const ep of p.endpoints) {
        const key = endpointKey(ep);
        const e = l.endpoints.get(key);
        if (e) e.lists++;
        else l.endpoints.set(key, { endpoint: ep, lists: 1 });
      }
    }
  }

  /** Removes a list added by `list` (from index `from`). */
  private unlist(peers: PeerInfo[], from = 0): void {
    for (let i = from; i < peers.length; i++) {
      const p = peers[i]!;
      const l = this.listed.get(p.identity);
      if (!l) continue;
      for (const ep of p.endpoints) {
        const key = endpointKey(ep);
        const e = l.endpoints.get(key);
        if (e && --e.lists === 0) l.endpoints.delete(key);
      }
      if (--l.lists === 0) this.listed.delete(p.identity);
    }
  }

  /** Mesh status and dials for members others see but we do not: O(listed members). */
  private evaluate(): void {
    if (this.stopped) return;
    let missing = 0;
    for (const [identity, l] of this.listed) {
      // Our own identity in others' lists is this device or another of ours; PEX cannot tell which.
      if (identity === this.opts.selfIdentity || this.sessions.has(identity)) continue;
      missing++;
      for (const [key, { endpoint }] of l.endpoints) {
        if (this.connectedEndpoints.has(key) || this.redials.has(key)) continue;
        const r = this.redialFor(endpoint, identity);
        if (this.opts.selfIdentity < identity) {
          this.stats.dials++;
          this.emit('dial', endpoint, identity);
        } else {
          this.deferDial(endpoint, r);
        }
      }
    }
    this.setStatus(this.sessions.size === 0 ? 'none' : missing === 0 ? 'full' : 'partial');
  }

  /** The peer with the lower identity dials us; we dial only if it has not after PEX_DIAL_GRACE_MS. */
  private deferDial(ep: Endpoint, r: Redial): void {
    this.stats.deferredDials++;
    const grace = PEX_DIAL_GRACE_MS * (0.8 + 0.4 * this.random());
    r.timer = this.scheduler.setTimeout(() => {
      r.timer = undefined;
      if (this.stopped) return;
      if (this.sessions.has(r.identity)) {
        // Connected (perhaps at another end point of that member): nothing to do here.
        this.redials.delete(endpointKey(ep));
        return;
      }
      this.stats.dials++;
      this.emit('dial', ep, r.identity);
    }, grace);
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
