/**
 * Turns what the chat and file services return into the API's JSON. Lenient on
 * input (the services may add fields), strict on output (only what the
 * schemas in schemas.ts describe; bytes as hex).
 */
import type { MessageJson as ControlMessageJson } from '../../core/control/chat-methods.js';
import type { Invitation, InvitationEnd, InvitationEndReason, OutgoingInvitation } from '../../core/node/invitations.js';
import type { HistoryCursor } from './contract.js';
import { UiError, ERR_UI_BAD_REQUEST } from './errors.js';

type Loose = Record<string, any>;

const CURSOR_PATTERN = /^(\d{1,16})-(\d{1,5})-([0-9a-f]{2,128})$/;

function hex(value: unknown): string {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  return typeof value === 'string' ? value : '';
}

function int(value: unknown, fallback = 0): number {
  return typeof value === 'number' && Number.isFinite(value) ? Math.trunc(value) : fallback;
}

export interface ChatJson {
  chatId: number;
  kind: 'group' | 'private';
  name: string;
  online: boolean;
  unread: number;
  meshStatus: string;
  onlineMembers: number;
  lastMessageAt: number | null;
}

export function chatJson(chat: Loose): ChatJson {
  const onlineMembers = Array.isArray(chat.onlineMembers) ? chat.onlineMembers.length : int(chat.onlineMembers);
  return {
    chatId: int(chat.chatId ?? chat.id),
    kind: chat.kind === 'private' ? 'private' : 'group',
    name: String(chat.name ?? ''),
    online: Boolean(chat.online),
    unread: int(chat.unread ?? chat.unreadCount),
    meshStatus: String(chat.meshStatus ?? chat.mesh ?? 'none'),
    onlineMembers,
    lastMessageAt: typeof chat.lastMessageAt === 'number' ? chat.lastMessageAt : null,
  };
}

/** A message as the control socket shows it, plus its delivery state. */
export interface MessageJson extends ControlMessageJson {
  /** Recipients that acknowledged an outgoing message, and those that have not yet. */
  deliveredTo: string[];
  pendingTo: string[];
}

function deliveryOf(message: Loose): { deliveredTo: string[]; pendingTo: string[] } {
  const deliveredTo: string[] = [];
  const pendingTo: string[] = [];
  const rows = message.delivery ?? message.deliveries;
  if (Array.isArray(rows)) {
    for (const row of rows as Loose[]) {
      if (typeof row?.recipient !== 'string') continue;
      (row.deliveredAt ? deliveredTo : pendingTo).push(row.recipient);
    }
  } else if (Array.isArray(message.deliveredTo)) {
    deliveredTo.push(...message.deliveredTo.filter((r: unknown) => typeof r === 'string'));
    if (Array.isArray(message.pendingTo)) pendingTo.push(...message.pendingTo.filter((r: unknown) => typeof r === 'string'));
  } else if (message.delivered === true) {
    deliveredTo.push('*');
  }
  return { deliveredTo, pendingTo };
}

export function messageJson(message: Loose, chatId?: number): MessageJson {
  const text = typeof message.text === 'string' ? message.text : null;
  return {
    id: hex(message.id),
    seq: int(message.seq),
    chatId: int(message.chatId, chatId ?? 0),
    type: int(message.type, 1),
    sender: String(message.sender ?? ''),
    outgoing: Boolean(message.outgoing),
    sentAt: int(message.hlc?.wallMs ?? message.sentAt),
    receivedAt: int(message.receivedAt),
    text,
    ...deliveryOf(message),
  };
}

export function encodeCursor(cursor: Loose | undefined): string | null {
  if (!cursor?.hlc || cursor.id === undefined) return null;
  return `${int(cursor.hlc.wallMs)}-${int(cursor.hlc.counter)}-${hex(cursor.id)}`;
}

export function decodeCursor(text: string): HistoryCursor {
  const match = CURSOR_PATTERN.exec(text);
  if (!match || match[3]!.length % 2 !== 0) throw new UiError(ERR_UI_BAD_REQUEST, 400, 'malformed history cursor');
  const wallMs = Number(match[1]);
  const counter = Number(match[2]);
  if (!Number.isSafeInteger(wallMs) || counter > 0xffff) throw new UiError(ERR_UI_BAD_REQUEST, 400, 'malformed history cursor');
  return { hlc: { wallMs, counter }, id: Buffer.from(match[3]!, 'hex') };
}

export interface MemberJson {
  identity: string;
  name: string | null;
  online: boolean;
  fingerprint: string | null;
  safetyNumber: string | null;
}

export function memberJson(member: Loose | string): MemberJson {
  if (typeof member === 'string') return { identity: member, name: null, online: false, fingerprint: null, safetyNumber: null };
  const text = (value: unknown): string | null => (typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('hex') : null);
  return {
    identity: String(member.identity ?? member.email ?? ''),
    name: text(member.name),
    online: Boolean(member.online),
    fingerprint: text(member.fingerprint),
    safetyNumber: text(member.safetyNumber),
  };
}

const END_REASONS: readonly InvitationEndReason[] = ['accepted', 'declined', 'joined', 'cancelled', 'left', 'expired'];

/** An invitation we sent, as the core lists it (`OutgoingInvitation`), read leniently. */
export function outgoingInvitationJson(o: Loose): OutgoingInvitation {
  const count = (value: unknown): number => (typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : 0);
  const deliveries = count(o.deliveries);
  const deliveredAt = count(o.deliveredAt);
  return {
    chatId: count(o.chatId),
    email: typeof o.email === 'string' ? o.email : '',
    since: count(o.since),
    deliveries,
    ...(deliveredAt > 0 ? { deliveredAt } : {}),
    state: deliveries > 0 ? 'delivered' : 'looking',
  };
}

/** An invitation that left the lists (`InvitationEnd`), read leniently. */
export function invitationEndJson(e: Loose): InvitationEnd {
  return {
    chatId: Number(e.chatId) || 0,
    direction: e.direction === 'in' ? 'in' : 'out',
    email: typeof e.email === 'string' ? e.email : '',
    reason: END_REASONS.includes(e.reason) ? (e.reason as InvitationEndReason) : 'cancelled',
  };
}

/** A pending invitation on the wire: the core's shape, every field plain JSON already. */
export type InvitationJson = Invitation;

/** A pending invitation as the core lists it (core/node/invitations.ts `Invitation`), read leniently. */
export function invitationJson(invitation: Loose): InvitationJson {
  const text = (value: unknown): string => (typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('hex') : '');
  return {
    chatId: Number(invitation.chatId) || 0,
    email: text(invitation.email),
    name: text(invitation.name),
    text: text(invitation.text),
    fingerprint: text(invitation.fingerprint),
    safetyNumber: text(invitation.safetyNumber),
    receivedAt: Number(invitation.receivedAt) || 0,
  };
}

/** A chat as other records name it: this node's chat ID and the chat's name. */
export interface ChatRef {
  chatId: number;
  name: string;
}

export interface TransferJson {
  id: string;
  name: string;
  mimeType: string | null;
  /** 'out' for a file we shared, 'in' for one advertised to us. */
  direction: 'in' | 'out';
  /** advertised, active, paused, cancelled, done. */
  state: string;
  size: number;
  done: number;
  /** Bytes per second, when the service reports it (progress events). */
  rate: number | null;
  error: string | null;
  /** The chats it was shared in or advertised from (empty when unknown). */
  chats: ChatRef[];
}

/** A file-share `FileInfo` or `FileProgress`; never its local path. */
export function transferJson(file: Loose, chats: ChatRef[] = []): TransferJson {
  return {
    id: String(file.fileId ?? file.id ?? ''),
    name: String(file.name ?? ''),
    mimeType: typeof file.mimeType === 'string' ? file.mimeType : null,
    direction: file.origin === 'remote' || file.direction === 'in' ? 'in' : 'out',
    state: String(file.state ?? 'unknown'),
    size: int(file.size),
    done: int(file.bytes ?? file.done),
    rate: typeof file.rate === 'number' ? file.rate : null,
    error: typeof file.error === 'string' ? file.error : file.error?.message ? String(file.error.message) : null,
    chats,
  };
}
