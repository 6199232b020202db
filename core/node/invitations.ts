/**
 * Invitations (spec §2.6, improved): starting a private chat with someone who has not
 * added you, without the original's plaintext invitation text (spec §1.11).
 *
 * Discovery is the original's: an invitee that allows inbound invitations announces
 * MaskedEmail(self) on the DHT and the LAN (not on trackers, spec §2.6; only on the LAN
 * when "LAN only"); the inviter looks MaskedEmail(peer) up on the DHT (lookup only) and
 * announces it on the LAN (which has no lookup-only query), and connects to the end
 * points found.
 *
 * Delivery differs: instead of signal 15 with the text in clear, the inviter opens a
 * virtual channel named HashedEmail(inviter) and runs the private chat's own secure
 * channel in it. The invitee derives that chat's network ID and PSK from
 * HashedEmail(self) XOR channel name alone, so the handshake is mutually authenticated
 * and the text travels as the first chat message inside it (the same encoded text
 * message the inviter stored in its chat, so the later re-send is de-duplicated by ID).
 * The invitee checks that the inviter's certificate e-mail hashes to the channel name
 * (§4.1) before anything is kept, then holds an offline private chat with a pending
 * invitation until the user accepts (brings it online) or declines (deletes it).
 *
 *   inviter                                    invitee (announces MaskedEmail(self))
 *   lookup MaskedEmail(peer) ──── DHT / LAN ───▶ end points
 *   open channel "HashedEmail(inviter)" ───────▶ S = HashedEmail(self) XOR name
 *   secure channel, PSK = NetworkSecret(S) ◀───▶ same PSK; certificate e-mail → HashedEmail == name?
 *   session frame port 0: text message ────────▶ offline chat + pending invitation; close
 *
 * Nothing is lost to a restart: pending inbound invitations and outgoing ones are kept
 * in the encrypted profile (an outgoing one without its text, which is re-read from the
 * encrypted history), and outgoing ones resume looking when the node starts.
 */
import { BlockList, isIP } from 'node:net';
import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import type { ChatService } from '../chat/chat-service.js';
import { HistoryStore, type StoredMessage } from '../chat/history-store.js';
import type { Hlc } from '../chat/hlc.js';
import { decodeMessage, encodeMessage } from '../chat/message-codec.js';
import { channelName, derivePrivateKeysFromSalt, DERIVED_LENGTH, hashedEmail, MAX_EMAIL_BYTES, maskedEmail, normaliseEmail } from '../chat/network-id.js';
import type { ChannelRequest, ConnectionManager } from '../connection/index.js';
import { Signal } from '../connection/index.js';
import type { KernelHooks } from '../hooks.js';
import { safetyNumber } from '../identity/fingerprint.js';
import { SecureChannel, verifyPeerWithHook } from '../secure-channel/index.js';
import type { Endpoint, NetworkId } from '../types.js';
import {
  ERR_NODE_INVITATION_NOT_FOUND,
  ERR_NODE_INVITATION_REFUSED,
  ERR_NODE_INVITATION_SECRET,
  ERR_NODE_INVITATION_STORED,
  ERR_NODE_INVITATION_TOO_LARGE,
  NodeError,
} from './errors.js';
import { SecureChatSession } from './secure-session.js';

/** Profile settings keys (the spec keeps these in the profile too, §9). */
export const ALLOW_INVITATIONS_SETTING = 'allowInboundInvitations';
export const LAN_ONLY_INVITATIONS_SETTING = 'allowOnlyLocalInboundInvitations';
export const PENDING_INVITATIONS_SETTING = 'pendingInvitations';
/** Outgoing invitations, kept so they survive a restart (no text: that is the chat's first message, in the encrypted history). */
export const OUTGOING_INVITATIONS_SETTING = 'outgoingInvitations';
/** Spec §2.6: a repeat from the same sender and address is ignored this long. */
export const REPEAT_WINDOW_MS = 15 * 60 * 1000;
/** Spec §2.6: the inviter looks the invitee up this often... */
export const LOOKUP_INTERVAL_MS = 30_000;
/** ...this many times (one hour, again after each restart)... */
export const MAX_LOOKUP_ROUNDS = 120;
/** ...then, while no node of the invitee took it, this many times less often (every 10 min)... */
export const SLOW_LOOKUP_FACTOR = 20;
/** ...until it is this old: then it ends ('expired'). A delivered one stops looking after the first hour and waits for the answer. */
export const MAX_OUTGOING_AGE_MS = 30 * 24 * 60 * 60 * 1000;
/** Pending inbound invitations kept; more are refused until the user answers some. */
export const MAX_PENDING_INVITATIONS = 32;
/** Invitation text cap (UTF-8 bytes); a message, not a document. */
export const MAX_INVITATION_TEXT_BYTES = 4096;
/** Invitation channels accepted per minute (each costs three PBKDF2 runs and a handshake). */
export const MAX_INBOUND_PER_MINUTE = 30;
/** Senders/addresses remembered for the repeat window. */
export const MAX_REMEMBERED_ATTEMPTS = 1024;
/** Outgoing invitations kept at once (looking or delivered and waiting for the answer). */
export const MAX_OUTGOING_INVITATIONS = 64;
/** End points one outgoing invitation delivers to at once. */
export const MAX_DELIVERIES_IN_FLIGHT = 8;
/** How long one delivery (handshake, text, the invitee's close) may take. */
export const DELIVERY_TIMEOUT_MS = 15_000;
const RATE_WINDOW_MS = 60_000;
const LOCAL_HOSTS: ReadonlySet<string> = new Set(['127.0.0.1', '::1', 'localhost', '::ffff:127.0.0.1']);

/** A pending inbound invitation, as the UI shows it before the user decides. */
export interface Invitation {
  chatId: number;
  /** The inviter's e-mail, from its certificate (checked against the channel name). */
  email: string;
  /** The inviter's certificate name. */
  name: string;
  text: string;
  /** Hex fingerprint of the inviter's certificate. */
  fingerprint: string;
  /** Compare out of band before accepting. */
  safetyNumber: string;
  receivedAt: number;
}

/** An invitation we sent, until the invitee joins the chat, we cancel it, or we leave the chat. */
export interface OutgoingInvitation {
  chatId: number;
  /** The invitee. */
  email: string;
  /** When it was sent. */
  since: number;
  /** How many times a node of the invitee took it. */
  deliveries: number;
  /** When a node of the invitee last took it. */
  deliveredAt?: number;
  /** 'looking': no node of the invitee took it yet; 'delivered': taken, waiting for them to accept. */
  state: 'looking' | 'delivered';
}

/** Why an invitation ended: inbound 'accepted' / 'declined' / 'left'; outgoing 'joined' / 'cancelled' / 'left' / 'expired'. */
export type InvitationEndReason = 'accepted' | 'declined' | 'joined' | 'cancelled' | 'left' | 'expired';

/** An invitation left the lists (other views of them update on it). */
export interface InvitationEnd {
  chatId: number;
  /** 'in': one we received (`email` is the inviter); 'out': one we sent (`email` is the invitee). */
  direction: 'in' | 'out';
  email: string;
  reason: InvitationEndReason;
}

/** The facade's invitation events, each with one argument. */
export interface InvitationEvents {
  /** A new pending inbound invitation. */
  invitation: Invitation;
  /** An outgoing invitation was sent (or sent again, replacing the earlier one of that chat). */
  'invitation-sent': OutgoingInvitation;
  /** An invitation, inbound or outgoing, left the lists. */
  'invitation-ended': InvitationEnd;
}

/**
 * What the profile keeps per outgoing invitation (`OUTGOING_INVITATIONS_SETTING`): the
 * chat (with its network ID, since SQLite hands out a freed chat ID again) and the ID of
 * the message to re-read from the encrypted history. Checked by `decodeOutgoingRecord`.
 */
export interface OutgoingRecord {
  chatId: number;
  /** Hex, 20 bytes. */
  networkId: string;
  email: string;
  /** Hex, 16 bytes. */
  messageId: string;
  since: number;
  deliveries: number;
  deliveredAt?: number;
}

/** What is kept in the profile per pending invitation (the message ID/HLC so the re-send is de-duplicated). */
interface PendingRecord extends Invitation {
  networkId: string;
  messageId: string;
  hlc: Hlc;
}

interface Outgoing {
  chatId: number;
  email: string;
  masked: Buffer;
  networkId: Buffer;
  message: Buffer;
  messageId: Buffer;
  since: number;
  deliveries: number;
  deliveredAt?: number;
  /** End point → when it last took the invitation (this run only: the repeat window). */
  delivered: Map<string, number>;
  inFlight: Set<string>;
  rounds: number;
  /** Lookups run (and the mask is announced on the LAN). */
  looking: boolean;
  timer?: NodeJS.Timeout | undefined;
}

export interface InvitationsStats {
  lookups: number;
  deliveries: number;
  deliveryFailures: number;
  inboundAccepted: number;
  received: number;
  repeatsIgnored: number;
  refusedPolicy: number;
  refusedRate: number;
  refusedCertificate: number;
  refusedMessage: number;
  refusedFull: number;
}

/** A discovery service masks are announced on directly (not `hooks.announce`: trackers must not see them). */
export interface MaskDiscovery {
  announce(networkId: NetworkId, port: number): unknown;
  withdraw(networkId: NetworkId): unknown;
}

/** What the invitations need from the chat node. */
export interface InvitationsHost {
  connections: ConnectionManager;
  hooks: Pick<KernelHooks, 'verifyCertificate'>;
  service: ChatService;
  store: HistoryStore;
  logger: Logger;
  selfEmail: string;
  identity: { certificateChain: Buffer[]; privateKey: KeyObject; staple?: Buffer };
  /** The profile's settings object (policy and pending invitations live there). */
  settings: Record<string, unknown>;
  persist: () => Promise<void>;
  /** The DHT plugin's service, if loaded: masks are announced and looked up there; results arrive through `peerDiscovered`. */
  dht?: MaskDiscovery & { lookup(networkId: NetworkId): Promise<void> };
  /** The LAN plugin's service, if loaded. */
  lan?: MaskDiscovery;
  /** True when our private chat with `email` has a shared secret (spec §2.6: no invitation then). */
  hasSecret: (email: string) => boolean;
  /** The invitation events, and a stored message on acceptance, for the facade. */
  emit: <K extends keyof InvitationEvents>(event: K, value: InvitationEvents[K]) => void;
  /** An outgoing invitation reached the invitee's node at `endpoint`. */
  emitDelivered: (chatId: number, endpoint: Endpoint) => void;
  emitMessage: (chatId: number, message: StoredMessage) => void;
  lookupIntervalMs?: number;
}

/** The private, link-local and loopback ranges (built per instance: no module state). */
export function localAddressList(): BlockList {
  const list = new BlockList();
  for (const [net, bits] of [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['127.0.0.0', 8], ['169.254.0.0', 16]] as const) list.addSubnet(net, bits, 'ipv4');
  for (const [net, bits] of [['fc00::', 7], ['fe80::', 10], ['::1', 128]] as const) list.addSubnet(net, bits, 'ipv6');
  return list;
}

/** Throws unless `text` fits an invitation. */
export function assertInvitationText(text: string): void {
  if (Buffer.byteLength(text, 'utf8') > MAX_INVITATION_TEXT_BYTES) {
    throw new NodeError(ERR_NODE_INVITATION_TOO_LARGE, `an invitation text is at most ${MAX_INVITATION_TEXT_BYTES} bytes`);
  }
}

/** Private, link-local or loopback: what "LAN only" admits. */
export function isLocalAddress(host: string, list: BlockList): boolean {
  const h = host.startsWith('::ffff:') && isIP(host.slice(7)) === 4 ? host.slice(7) : host;
  const family = isIP(h);
  if (family === 0) return false;
  return list.check(h, family === 4 ? 'ipv4' : 'ipv6');
}

const HEX_NETWORK_ID = /^[0-9a-f]{40}$/;
const HEX_MESSAGE_ID = /^[0-9a-f]{32}$/;
/** A stored count above this is not one we wrote. */
const MAX_STORED_DELIVERIES = 1_000_000;

function storedError(message: string): NodeError {
  return new NodeError(ERR_NODE_INVITATION_STORED, message);
}

function isTime(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Checks one stored outgoing invitation (untrusted: the profile may come from an older
 * or a foreign build); throws ERR_NODE_INVITATION_STORED. Lengths are checked before
 * anything is parsed; the error messages name no e-mail and no text.
 */
export function decodeOutgoingRecord(value: unknown): OutgoingRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw storedError('not an object');
  const v = value as Record<string, unknown>;
  const { chatId, networkId, email, messageId, since, deliveries, deliveredAt } = v;
  if (typeof chatId !== 'number' || !Number.isSafeInteger(chatId) || chatId <= 0) throw storedError('bad chat ID');
  if (typeof networkId !== 'string' || networkId.length !== 40 || !HEX_NETWORK_ID.test(networkId)) throw storedError('bad network ID');
  if (typeof messageId !== 'string' || messageId.length !== 32 || !HEX_MESSAGE_ID.test(messageId)) throw storedError('bad message ID');
  if (typeof email !== 'string' || email.length > MAX_EMAIL_BYTES) throw storedError('bad e-mail');
  let normal: string;
  try {
    normal = normaliseEmail(email);
  } catch {
    throw storedError('bad e-mail');
  }
  if (normal !== email) throw storedError('bad e-mail');
  if (!isTime(since)) throw storedError('bad time');
  if (typeof deliveries !== 'number' || !Number.isSafeInteger(deliveries) || deliveries < 0 || deliveries > MAX_STORED_DELIVERIES) throw storedError('bad delivery count');
  if (deliveredAt !== undefined && !isTime(deliveredAt)) throw storedError('bad delivery time');
  return { chatId, networkId, email, messageId, since, deliveries, ...(deliveredAt !== undefined ? { deliveredAt } : {}) };
}

export class Invitations {
  readonly stats: InvitationsStats = {
    lookups: 0,
    deliveries: 0,
    deliveryFailures: 0,
    inboundAccepted: 0,
    received: 0,
    repeatsIgnored: 0,
    refusedPolicy: 0,
    refusedRate: 0,
    refusedCertificate: 0,
    refusedMessage: 0,
    refusedFull: 0,
  };
  private readonly h: InvitationsHost;
  private readonly outgoing = new Map<number, Outgoing>();
  /** `host|hashedSender` → when an invitation channel from there was last accepted. */
  private readonly attempts = new Map<string, number>();
  private readonly recent: number[] = [];
  private readonly sessions = new Set<SecureChatSession>();
  private readonly local = localAddressList();
  private readonly unsubscribe: () => void;
  private selfHashed: Promise<Buffer>;
  private announced: Buffer | undefined;
  private stopped = false;
  /** Settles when the stored outgoing invitations were resumed (`invite` waits for it: one writer of the stored list at a time). */
  private resumed: Promise<void> = Promise.resolve();

  constructor(host: InvitationsHost) {
    this.h = host;
    this.selfHashed = hashedEmail(host.selfEmail);
    this.selfHashed.catch(() => undefined);
    this.unsubscribe = host.connections.onChannel((request) => this.onChannel(request));
  }

  get allowInbound(): boolean {
    return this.h.settings[ALLOW_INVITATIONS_SETTING] !== false;
  }

  get lanOnly(): boolean {
    return this.h.settings[LAN_ONLY_INVITATIONS_SETTING] === true;
  }

  /**
   * Resumes the stored outgoing invitations (lookups start again) and announces
   * MaskedEmail(self) when inbound invitations are allowed (call once the node is reachable).
   */
  async start(): Promise<void> {
    // A failure here (the profile could not be saved) is logged: the node still starts.
    this.resumed = this.resumeOutgoing().catch((err: unknown) => this.h.logger.warn({ err }, 'the stored outgoing invitations could not be resumed'));
    await this.resumed;
    await this.announce();
  }

  /** Changes the inbound policy (kept in the profile) and re-announces accordingly. */
  async setPolicy(policy: { allow?: boolean; lanOnly?: boolean }): Promise<{ allow: boolean; lanOnly: boolean }> {
    if (policy.allow !== undefined) this.h.settings[ALLOW_INVITATIONS_SETTING] = policy.allow;
    if (policy.lanOnly !== undefined) this.h.settings[LAN_ONLY_INVITATIONS_SETTING] = policy.lanOnly;
    await this.h.persist();
    this.withdraw();
    await this.announce();
    return { allow: this.allowInbound, lanOnly: this.lanOnly };
  }

  /**
   * Invites `email` into a private chat (created and brought online if needed): the text
   * is stored as our first message of that chat and delivered, encrypted, to every end
   * point the invitee's mask is found at, until the invitee joins.
   */
  async invite(chatId: number, email: string, text: string): Promise<StoredMessage> {
    const peer = normaliseEmail(email);
    assertInvitationText(text);
    await this.resumed;
    const record = this.h.store.chat(chatId);
    if (!record) throw new NodeError(ERR_NODE_INVITATION_NOT_FOUND, `chat ${chatId} is not known`);
    if (this.hasSecret(peer)) throw new NodeError(ERR_NODE_INVITATION_SECRET, 'a private chat with a shared secret cannot be invited into (spec §2.6)');
    if (!this.outgoing.has(chatId) && this.outgoing.size >= MAX_OUTGOING_INVITATIONS) {
      throw new NodeError(ERR_NODE_INVITATION_REFUSED, `at most ${MAX_OUTGOING_INVITATIONS} sent invitations are kept until answered: cancel one first`);
    }
    const stored = this.h.service.send(chatId, text);
    const message = encodeMessage({ kind: 'text', id: stored.id, hlc: stored.hlc, text });
    const masked = await maskedEmail(peer);
    if (this.stopped) return stored;
    const earlier = this.outgoing.get(chatId);
    if (earlier) this.stopLooking(earlier);
    const o = this.outgoingOf({ chatId, email: peer, masked, networkId: record.networkId, message, messageId: stored.id, since: Date.now(), deliveries: 0 });
    this.outgoing.set(chatId, o);
    this.look(o);
    await this.saveOutgoing();
    this.h.emit('invitation-sent', this.outgoingJson(o));
    return stored;
  }

  /** Our private chat with `email` has a shared secret: it cannot be invited into (spec §2.6). */
  hasSecret(email: string): boolean {
    return this.h.hasSecret(normaliseEmail(email));
  }

  /** Outgoing invitations (looking or delivered), oldest first. */
  pendingOutgoing(): OutgoingInvitation[] {
    return [...this.outgoing.values()].sort((a, b) => a.since - b.since).map((o) => this.outgoingJson(o));
  }

  /** Cancels our invitation to `email`: no more lookups or deliveries (what a node of theirs already took stays there); the chat stays. */
  async cancel(email: string): Promise<number> {
    const e = normaliseEmail(email);
    await this.resumed;
    const o = [...this.outgoing.values()].find((x) => x.email === e);
    if (!o) throw new NodeError(ERR_NODE_INVITATION_NOT_FOUND, `no outgoing invitation to ${e}`);
    this.dropOutgoing(o.chatId, 'cancelled');
    await this.saveOutgoing();
    return o.chatId;
  }

  /** The invitee came online in the chat: the invitation is answered, looking stops and it is no longer kept. */
  async answered(chatId: number): Promise<void> {
    await this.resumed;
    if (this.dropOutgoing(chatId, 'joined')) await this.saveOutgoing();
  }

  /** The chat is deleted: no invitation of it is kept or sent any more. */
  async forget(chatId: number): Promise<void> {
    await this.resumed;
    const wasOutgoing = this.dropOutgoing(chatId, 'left');
    const list = this.pending();
    const i = list.findIndex((p) => p.chatId === chatId);
    const inbound = i >= 0 ? list.splice(i, 1)[0] : undefined;
    if (!wasOutgoing && !inbound) return;
    if (wasOutgoing) this.writeOutgoing();
    await this.h.persist();
    if (inbound) this.h.emit('invitation-ended', { chatId, direction: 'in', email: inbound.email, reason: 'left' });
  }

  /** Discovery found `endpoint` under `networkId`: deliver if it is an invitee's mask we look for. */
  peerDiscovered(networkId: NetworkId, endpoint: Endpoint): void {
    for (const o of this.outgoing.values()) if (o.looking && o.masked.equals(networkId)) this.deliver(o, endpoint);
  }

  /** Pending inbound invitations, oldest first. */
  list(): Invitation[] {
    return this.pending().map(({ chatId, email, name, text, fingerprint, safetyNumber: digits, receivedAt }) => ({ chatId, email, name, text, fingerprint, safetyNumber: digits, receivedAt }));
  }

  /** Accepting: the invitation text becomes the chat's first message and the chat goes online. */
  async accept(email: string): Promise<number> {
    const p = this.take(email);
    const id = Buffer.from(p.messageId, 'hex');
    const m = { chatId: p.chatId, id, sender: p.email, outgoing: false, hlc: p.hlc, content: p.text };
    const res = this.h.store.addMessage(m);
    await this.h.persist();
    if (res.inserted) this.h.emitMessage(p.chatId, HistoryStore.asStored(m, res.seq, res.receivedAt));
    this.h.emit('invitation-ended', { chatId: p.chatId, direction: 'in', email: p.email, reason: 'accepted' });
    await this.h.service.goOnline(p.chatId);
    return p.chatId;
  }

  /** Declining: the pending invitation and its offline chat are deleted; returns the chat ID. */
  async decline(email: string): Promise<number> {
    const p = this.take(email);
    await this.h.persist();
    this.h.emit('invitation-ended', { chatId: p.chatId, direction: 'in', email: p.email, reason: 'declined' });
    return p.chatId;
  }

  /** Stops every lookup and session; the stored outgoing invitations stay for the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe();
    for (const o of this.outgoing.values()) this.stopLooking(o);
    this.outgoing.clear();
    for (const s of [...this.sessions]) s.close();
    this.sessions.clear();
    this.withdraw();
  }

  private pending(): PendingRecord[] {
    const v = this.h.settings[PENDING_INVITATIONS_SETTING];
    if (!Array.isArray(v)) this.h.settings[PENDING_INVITATIONS_SETTING] = [];
    return this.h.settings[PENDING_INVITATIONS_SETTING] as PendingRecord[];
  }

  private take(email: string): PendingRecord {
    const e = normaliseEmail(email);
    const list = this.pending();
    const i = list.findIndex((p) => p.email === e);
    if (i < 0) throw new NodeError(ERR_NODE_INVITATION_NOT_FOUND, `no pending invitation from ${e}`);
    const [p] = list.splice(i, 1);
    return p!;
  }

  private async announce(): Promise<void> {
    if (this.stopped || !this.allowInbound) return;
    const masked = await maskedEmail(this.h.selfEmail);
    const port = this.h.connections.localPort;
    this.announced = masked;
    if (!this.lanOnly) this.call(this.h.dht, (d) => d.announce(masked, port));
    this.call(this.h.lan, (d) => d.announce(masked, port));
  }

  private withdraw(): void {
    const masked = this.announced;
    if (!masked) return;
    this.announced = undefined;
    this.call(this.h.dht, (d) => d.withdraw(masked));
    this.call(this.h.lan, (d) => d.withdraw(masked));
  }

  /** Calls a discovery service without waiting (a DHT round takes seconds); a failure (not started, Tor mode, caps) is logged. */
  private call<T>(service: T | undefined, fn: (service: T) => unknown): void {
    if (!service) return;
    Promise.resolve()
      .then(() => fn(service))
      .catch((err: unknown) => this.h.logger.debug({ err }, 'a discovery service refused an invitation mask'));
  }

  private outgoingOf(init: Omit<Outgoing, 'delivered' | 'inFlight' | 'rounds' | 'looking'>): Outgoing {
    return { ...init, delivered: new Map(), inFlight: new Set(), rounds: 0, looking: false };
  }

  private outgoingJson(o: Outgoing): OutgoingInvitation {
    return {
      chatId: o.chatId,
      email: o.email,
      since: o.since,
      deliveries: o.deliveries,
      ...(o.deliveredAt !== undefined ? { deliveredAt: o.deliveredAt } : {}),
      state: o.deliveries > 0 ? 'delivered' : 'looking',
    };
  }

  /** The stored list from the map (call `persist` after). */
  private writeOutgoing(): void {
    const records: OutgoingRecord[] = [...this.outgoing.values()].map((o) => ({
      chatId: o.chatId,
      networkId: o.networkId.toString('hex'),
      email: o.email,
      messageId: o.messageId.toString('hex'),
      since: o.since,
      deliveries: o.deliveries,
      ...(o.deliveredAt !== undefined ? { deliveredAt: o.deliveredAt } : {}),
    }));
    this.h.settings[OUTGOING_INVITATIONS_SETTING] = records;
  }

  private async saveOutgoing(): Promise<void> {
    this.writeOutgoing();
    await this.h.persist();
  }

  /** Ends an outgoing invitation (looking stops, the facade is told); false when there was none. The caller saves the list. */
  private dropOutgoing(chatId: number, reason: InvitationEndReason): boolean {
    const o = this.outgoing.get(chatId);
    if (!o) return false;
    this.stopLooking(o);
    this.outgoing.delete(chatId);
    this.h.emit('invitation-ended', { chatId, direction: 'out', email: o.email, reason });
    return true;
  }

  /**
   * Brings back the stored outgoing invitations. Each entry is checked (shape, its chat
   * still the same private chat, its message in the history and within the text cap);
   * one that fails is skipped and dropped with a typed error in the log, never a crash.
   */
  private async resumeOutgoing(): Promise<void> {
    const stored = this.h.settings[OUTGOING_INVITATIONS_SETTING];
    if (stored === undefined) return;
    const list = Array.isArray(stored) ? stored : [];
    /** Entries not resumed: the stored list is written again without them. */
    let skipped = Array.isArray(stored) ? 0 : 1;
    if (!Array.isArray(stored)) this.h.logger.warn({ code: ERR_NODE_INVITATION_STORED }, 'the stored outgoing invitations are not a list: dropped');
    if (list.length > MAX_OUTGOING_INVITATIONS) {
      skipped += list.length - MAX_OUTGOING_INVITATIONS;
      this.h.logger.warn({ code: ERR_NODE_INVITATION_STORED, count: list.length - MAX_OUTGOING_INVITATIONS }, `more than ${MAX_OUTGOING_INVITATIONS} stored outgoing invitations: the rest dropped`);
    }
    // Checked in order; the masks (a PBKDF2 run each) are derived side by side.
    const restored = await Promise.allSettled(list.slice(0, MAX_OUTGOING_INVITATIONS).map((value) => this.restoreOutgoing(value)));
    if (this.stopped) return;
    for (const [index, result] of restored.entries()) {
      try {
        if (result.status === 'rejected') throw result.reason;
        const o = result.value;
        if (this.outgoing.has(o.chatId)) throw storedError('a second entry for one chat');
        // The invitee accepted while we were down and is here already (its chat came back
        // online before this ran): answered, no 'member-online' will come for it again.
        if (this.h.service.isOnlineSafe(o.chatId) && this.h.service.onlineMembers(o.chatId).includes(o.email)) {
          skipped++;
          this.h.emit('invitation-ended', { chatId: o.chatId, direction: 'out', email: o.email, reason: 'joined' });
          continue;
        }
        this.outgoing.set(o.chatId, o);
        // A delivered one waits for the answer: looking again would bring a declined invitation back.
        if (o.deliveries === 0) this.look(o);
      } catch (err) {
        skipped++;
        const e = err instanceof NodeError && err.code === ERR_NODE_INVITATION_STORED ? err : storedError('unreadable');
        // No e-mail, no text: the code, the entry's place and what was wrong with it.
        this.h.logger.warn({ code: e.code, index, reason: e.message }, 'a stored outgoing invitation was skipped');
      }
    }
    if (skipped > 0) await this.saveOutgoing();
  }

  private async restoreOutgoing(value: unknown): Promise<Outgoing> {
    const r = decodeOutgoingRecord(value);
    const networkId = Buffer.from(r.networkId, 'hex');
    const chat = this.h.store.chat(r.chatId);
    if (!chat || !chat.networkId.equals(networkId) || chat.kind !== 'private' || chat.name !== r.email) throw storedError('its chat is gone');
    const messageId = Buffer.from(r.messageId, 'hex');
    let m: StoredMessage | undefined;
    try {
      m = this.h.store.message(r.chatId, messageId);
    } catch {
      throw storedError('its message is unreadable');
    }
    if (!m || !m.outgoing || m.text === undefined) throw storedError('its message is gone');
    if (Buffer.byteLength(m.text, 'utf8') > MAX_INVITATION_TEXT_BYTES) throw storedError('its text is above the cap');
    const message = encodeMessage({ kind: 'text', id: m.id, hlc: m.hlc, text: m.text });
    return this.outgoingOf({ chatId: r.chatId, email: r.email, masked: await maskedEmail(r.email), networkId, message, messageId, since: r.since, deliveries: r.deliveries, ...(r.deliveredAt !== undefined ? { deliveredAt: r.deliveredAt } : {}) });
  }

  /** Starts looking for the invitee (again). */
  private look(o: Outgoing): void {
    if (o.looking) return;
    o.looking = true;
    o.rounds = 0;
    // Spec §2.6: on the LAN the inviter announces the mask (LAN discovery has no lookup-only
    // query; its answers are keyed by the network ID). Whoever answers must still prove to
    // be the invitee before the text leaves (`sendTo`).
    this.call(this.h.lan, (d) => d.announce(o.masked, this.h.connections.localPort));
    this.lookupRound(o);
  }

  private stopLooking(o: Outgoing): void {
    if (o.timer) clearTimeout(o.timer);
    o.timer = undefined;
    if (!o.looking) return;
    o.looking = false;
    this.call(this.h.lan, (d) => d.withdraw(o.masked));
  }

  private lookupRound(o: Outgoing): void {
    if (this.stopped || this.outgoing.get(o.chatId) !== o || !o.looking) return;
    if (Date.now() - o.since > MAX_OUTGOING_AGE_MS) {
      this.dropOutgoing(o.chatId, 'expired');
      this.saveOutgoing().catch((err: unknown) => this.h.logger.warn({ err }, 'an expired invitation could not be dropped from the profile'));
      return;
    }
    const fast = o.rounds < MAX_LOOKUP_ROUNDS;
    if (!fast && o.deliveries > 0) {
      this.stopLooking(o);
      return;
    }
    o.rounds++;
    this.stats.lookups++;
    this.call(this.h.dht, (d) => d.lookup(o.masked));
    const interval = this.h.lookupIntervalMs ?? LOOKUP_INTERVAL_MS;
    o.timer = setTimeout(() => this.lookupRound(o), fast ? interval : interval * SLOW_LOOKUP_FACTOR);
    o.timer.unref();
  }

  private deliver(o: Outgoing, endpoint: Endpoint): void {
    if (this.stopped) return;
    if (LOCAL_HOSTS.has(endpoint.host) && endpoint.port === this.h.connections.localPort) return;
    const key = `${endpoint.host}|${endpoint.port}`;
    const last = o.delivered.get(key);
    if (o.inFlight.has(key) || o.inFlight.size >= MAX_DELIVERIES_IN_FLIGHT || (last !== undefined && Date.now() - last < REPEAT_WINDOW_MS)) return;
    o.inFlight.add(key);
    void this.sendTo(o, endpoint)
      .then(() => {
        this.stats.deliveries++;
        const now = Date.now();
        o.delivered.set(key, now);
        o.deliveries++;
        o.deliveredAt = now;
        this.h.emitDelivered(o.chatId, endpoint);
        if (this.outgoing.get(o.chatId) === o && !this.stopped) {
          this.saveOutgoing().catch((err: unknown) => this.h.logger.warn({ err }, 'an invitation delivery could not be kept in the profile'));
        }
      })
      .catch((err: unknown) => {
        this.stats.deliveryFailures++;
        this.h.logger.debug({ err, endpoint }, 'invitation delivery failed');
      })
      .finally(() => o.inFlight.delete(key));
  }

  private async sendTo(o: Outgoing, endpoint: Endpoint): Promise<void> {
    const connection = await this.h.connections.connect(endpoint);
    const channel = await this.h.connections.openChannel(connection, await this.selfHashed);
    const sc = await SecureChannel.connect(channel, this.channelOptions(this.h.service.networkSecret(o.chatId), o.networkId));
    const session = new SecureChatSession(sc, connection.peerId, undefined);
    const answer = this.firstMessage(session);
    try {
      // Whoever answers under the mask must be the invitee (a decoy must not learn the text).
      if (session.peerIdentity !== o.email) throw new NodeError(ERR_NODE_INVITATION_REFUSED, 'the node found under the mask is not the invitee');
      session.send(o.message);
      const bytes = await answer;
      const ack = bytes ? decodeMessage(bytes) : undefined;
      const id = decodeMessage(o.message);
      if (ack?.kind !== 'delivery' || id.kind !== 'text' || !ack.ids.some((x) => x.equals(id.id))) {
        throw new NodeError(ERR_NODE_INVITATION_REFUSED, 'the invitee did not take the invitation');
      }
    } finally {
      session.close();
    }
  }

  /** The session's first message, or undefined when it closed or took too long (bounded). */
  private firstMessage(session: SecureChatSession): Promise<Buffer | undefined> {
    this.sessions.add(session);
    return new Promise<Buffer | undefined>((resolve) => {
      const done = (bytes: Buffer | undefined): void => {
        clearTimeout(timer);
        session.off('message', done);
        session.off('close', onClose);
        this.sessions.delete(session);
        resolve(bytes);
      };
      const onClose = (): void => done(undefined);
      const timer = setTimeout(() => session.close(), DELIVERY_TIMEOUT_MS);
      session.on('message', done);
      session.on('close', onClose);
    });
  }

  private channelOptions(psk: Buffer, networkId: Buffer): Parameters<typeof SecureChannel.connect>[1] {
    const { certificateChain, privateKey, staple } = this.h.identity;
    return {
      psk,
      identity: { certificateChain, privateKey },
      verifyPeer: verifyPeerWithHook(this.h.hooks.verifyCertificate, networkId),
      ...(staple ? { staple } : {}),
    };
  }

  /** Decides synchronously (the connection layer needs it); the derivation and handshake follow. */
  private onChannel(request: ChannelRequest): void {
    if (this.stopped || !this.allowInbound || request.signal !== Signal.CONNECT_CHANNEL || request.name.length !== DERIVED_LENGTH) return;
    const connection = request.connection;
    // A chat of ours that is offline: refused at once as before (the peer's mesh backs off),
    // not taken for an invitation (which would cost a derivation and a failed handshake).
    const local = this.h.connections.peerId;
    if (this.h.store.chats().some((c) => channelName(c.networkId, local, connection.peerId).equals(request.name))) return;
    const host = connection.info.remote.host;
    if (this.lanOnly && (connection.info.virtual || !isLocalAddress(host, this.local))) {
      this.stats.refusedPolicy++;
      return;
    }
    const now = Date.now();
    const attemptKey = `${host}|${request.name.toString('hex')}`;
    const last = this.attempts.get(attemptKey);
    if (last !== undefined && now - last < REPEAT_WINDOW_MS) {
      this.stats.repeatsIgnored++;
      request.refuse();
      return;
    }
    while (this.recent.length > 0 && now - this.recent[0]! > RATE_WINDOW_MS) this.recent.shift();
    if (this.recent.length >= MAX_INBOUND_PER_MINUTE) {
      this.stats.refusedRate++;
      request.refuse();
      return;
    }
    if (this.pending().length >= MAX_PENDING_INVITATIONS) {
      this.stats.refusedFull++;
      request.refuse();
      return;
    }
    this.recent.push(now);
    if (this.attempts.size >= MAX_REMEMBERED_ATTEMPTS) this.attempts.delete(this.attempts.keys().next().value!);
    this.attempts.delete(attemptKey);
    this.attempts.set(attemptKey, now);
    let channel;
    try {
      channel = request.accept();
    } catch {
      return;
    }
    this.stats.inboundAccepted++;
    const hashedSender = Buffer.from(request.name);
    void this.receive(channel, connection.peerId, hashedSender).catch((err: unknown) => {
      channel.destroy();
      this.h.logger.debug({ err }, 'inbound invitation failed');
    });
  }

  private async receive(channel: ReturnType<ChannelRequest['accept']>, peerId: Buffer, hashedSender: Buffer): Promise<void> {
    const self = await this.selfHashed;
    if (self.equals(hashedSender)) throw new NodeError(ERR_NODE_INVITATION_REFUSED, 'an invitation from our own e-mail');
    const salt = Buffer.alloc(DERIVED_LENGTH);
    for (let i = 0; i < DERIVED_LENGTH; i++) salt[i] = self[i]! ^ hashedSender[i]!;
    const keys = await derivePrivateKeysFromSalt(salt);
    if (this.stopped) throw new NodeError(ERR_NODE_INVITATION_REFUSED, 'stopped');
    // The chat exists already: online, its own mesh connects; offline, the user chose so.
    if (this.h.store.chatByNetworkId(keys.networkId)) throw new NodeError(ERR_NODE_INVITATION_REFUSED, 'the chat exists');
    const sc = await SecureChannel.accept(channel, this.channelOptions(keys.networkSecret, keys.networkId));
    const session = new SecureChatSession(sc, peerId, undefined);
    const first = this.firstMessage(session);
    try {
      // §4.1: the certificate must be the sender's the channel is named after.
      if (!(await hashedEmail(session.peerIdentity).catch(() => Buffer.alloc(0))).equals(hashedSender)) {
        this.stats.refusedCertificate++;
        throw new NodeError(ERR_NODE_INVITATION_REFUSED, 'the certificate e-mail does not match the invitation channel');
      }
      const bytes = await first;
      let msg;
      try {
        msg = bytes ? decodeMessage(bytes) : undefined;
      } catch {
        msg = undefined;
      }
      if (msg?.kind !== 'text' || Buffer.byteLength(msg.text, 'utf8') > MAX_INVITATION_TEXT_BYTES) {
        this.stats.refusedMessage++;
        throw new NodeError(ERR_NODE_INVITATION_REFUSED, 'the invitation message is malformed or too large');
      }
      if (await this.keep(session, keys.networkId, msg)) session.send(encodeMessage({ kind: 'delivery', ids: [msg.id] }));
    } finally {
      session.close();
    }
  }

  /** Creates the offline chat and the pending invitation; false when it was not kept. */
  private async keep(session: SecureChatSession, networkId: Buffer, m: { text: string; id: Buffer; hlc: Hlc }): Promise<boolean> {
    if (this.stopped || this.h.store.chatByNetworkId(networkId) || this.pending().length >= MAX_PENDING_INVITATIONS) return false;
    const record = await this.h.service.openPrivateChat(session.peerIdentity);
    if (!record.networkId.equals(networkId)) {
      // Cannot happen when HashedEmail matched; refuse rather than keep a wrong chat.
      await this.h.service.remove(record.chatId);
      throw new NodeError(ERR_NODE_INVITATION_REFUSED, 'the certificate does not reproduce the network ID');
    }
    const invitation: Invitation = {
      chatId: record.chatId,
      email: session.peerIdentity,
      name: session.certificate.name,
      text: m.text,
      fingerprint: session.peerFingerprint.toString('hex'),
      safetyNumber: safetyNumber(session.certificate.publicKey, session.peerIdentity),
      receivedAt: Date.now(),
    };
    this.pending().push({ ...invitation, networkId: networkId.toString('hex'), messageId: m.id.toString('hex'), hlc: m.hlc });
    this.stats.received++;
    await this.h.persist();
    this.h.emit('invitation', invitation);
    return true;
  }
}
