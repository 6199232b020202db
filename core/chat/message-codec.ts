/**
 * Chat messages inside a secure session (port 0, spec §4.2): `u8 type ‖ payload`.
 * Spec §4.4 numbering where it fits; DESIGN §2b changes: random 128-bit message IDs,
 * a hybrid logical clock, delivery notifications by message ID, history sync (7–9),
 * and explicit caps instead of u8 counters. Integers are little-endian.
 *
 * Common fields: ID = 16 random bytes; HLC = `i64 wallMs ‖ u16 counter` (10 bytes);
 * IDENT = `u8 len (1..255) ‖ UTF-8` (a lower-case e-mail or a certificate fingerprint).
 *
 * | type | name              | payload after the type byte                                         |
 * | ---- | ----------------- | ------------------------------------------------------------------- |
 * | 0    | NOOP              | none                                                                |
 * | 1    | PeerExchange      | u32 seq ‖ u16 part ‖ u16 parts ‖ u16 count ‖ count × PeerInfo       |
 * | 2    | Text              | ID ‖ HLC ‖ UTF-8 text (to end)                                      |
 * | 3    | Delivery          | u16 count ‖ count × ID                                              |
 * | 4    | Typing            | none                                                                |
 * | 5    | ProfileImage      | i64 dateModified (ms) ‖ JPEG bytes (to end; empty = removed)        |
 * | 6    | GroupImage        | i64 dateModified (ms) ‖ JPEG bytes (to end; empty = removed)        |
 * | 7    | HistoryRequest    | u32 requestId ‖ u8 mode ‖ mode 0: HLC since ‖ u16 limit             |
 * |      |                   |                            mode 1: u16 count ‖ count × ID           |
 * | 8    | HistoryInventory  | u32 requestId ‖ u8 flags (bit 0 = more) ‖ u16 count ‖ count × (ID ‖ HLC) |
 * | 9    | HistoryMessages   | u32 requestId ‖ u8 flags (bit 0 = more) ‖ u16 count ‖ count × (ID ‖ HLC ‖ IDENT sender ‖ u16 len ‖ text) |
 * | 10+  | plugin types      | opaque to core (file-share registers 10–15 as in spec §4.4)         |
 *
 * PeerInfo = IDENT ‖ u8 epCount (0..16) ‖ epCount × IPEP (spec §0.1).
 *
 * A peer list that does not fit one message is split into `parts` messages sharing
 * one `seq`; the receiver replaces its view of the sender once all parts of a seq
 * arrived (so 255+ members never overflow a counter). Caps are below; a decoder checks
 * every count against its cap before reading, and rejects trailing bytes.
 */
import type { Endpoint } from '../types.js';
import { ByteReader, ByteWriter } from './byte-cursor.js';
import { ChatError, ERR_CHAT_BAD_FIELD, ERR_CHAT_BAD_INPUT, ERR_CHAT_TOO_LARGE } from './errors.js';
import { type Hlc, isValidHlc } from './hlc.js';
import { IPEP_V6_BYTES, readIpep, writeIpep } from './ipep.js';
import {
  type ChatMessageTypes,
  MSG_DELIVERY,
  MSG_GROUP_IMAGE,
  MSG_HISTORY_INVENTORY,
  MSG_HISTORY_MESSAGES,
  MSG_HISTORY_REQUEST,
  MSG_NOOP,
  MSG_PEER_EXCHANGE,
  MSG_PROFILE_IMAGE,
  MSG_TEXT,
  MSG_TYPING,
} from './message-types.js';

/** Spec §4.2: a port-0 message is at most 65 504 − 32 bytes, type byte included. */
export const MAX_MESSAGE_SIZE = 65_472;
export const MESSAGE_ID_BYTES = 16;
export const HLC_BYTES = 10;
export const MAX_IDENT_BYTES = 255;
export const MAX_ENDPOINTS_PER_PEER = 16;
/** Peers in one PeerExchange part; more peers go into further parts. */
export const MAX_PEERS_PER_PART = 1024;
/** Parts of one peer list: 64 × 1024 peers is far beyond any mesh we can hold. */
export const MAX_PEER_EXCHANGE_PARTS = 64;
export const MAX_DELIVERY_IDS = 1024;
export const MAX_INVENTORY_ENTRIES = 2048;
export const MAX_FETCH_IDS = 2048;
export const MAX_HISTORY_MESSAGES = 256;
export const TEXT_HEADER_BYTES = 1 + MESSAGE_ID_BYTES + HLC_BYTES;
/** The longest text a Text message can carry, in UTF-8 bytes. */
export const MAX_TEXT_BYTES = MAX_MESSAGE_SIZE - TEXT_HEADER_BYTES;
const PEER_EXCHANGE_HEADER_BYTES = 1 + 4 + 2 + 2 + 2;
const HISTORY_MODE_INVENTORY = 0;
const HISTORY_MODE_FETCH = 1;
const MORE_FLAG = 0x01;

export interface PeerInfo {
  /** Lower-case e-mail or certificate fingerprint. */
  identity: string;
  /** Remote end points of the sender's sessions with that peer. */
  endpoints: Endpoint[];
}

export interface HistoryRecord {
  id: Buffer;
  hlc: Hlc;
  /** The original sender (as relayed by the answering member; not signed). */
  sender: string;
  text: string;
}

export type ChatMessage =
  | { kind: 'noop' }
  | { kind: 'peer-exchange'; seq: number; part: number; parts: number; peers: PeerInfo[] }
  | { kind: 'text'; id: Buffer; hlc: Hlc; text: string }
  | { kind: 'delivery'; ids: Buffer[] }
  | { kind: 'typing' }
  | { kind: 'profile-image'; dateModified: number; image: Buffer }
  | { kind: 'group-image'; dateModified: number; image: Buffer }
  | { kind: 'history-request'; requestId: number; mode: 'inventory'; since: Hlc; limit: number }
  | { kind: 'history-request'; requestId: number; mode: 'fetch'; ids: Buffer[] }
  | { kind: 'history-inventory'; requestId: number; more: boolean; entries: Array<{ id: Buffer; hlc: Hlc }> }
  /** `more`: further HistoryMessages answer the same request. */
  | { kind: 'history-messages'; requestId: number; more: boolean; messages: HistoryRecord[] }
  /** A type a plugin registered; core hands the payload over undecoded. */
  | { kind: 'plugin'; type: number; name: string; owner: string; payload: Buffer }
  /** Nobody registered this type: ignore it (spec §4.4). */
  | { kind: 'unknown'; type: number };

export type ChatMessageKind = ChatMessage['kind'];

function bad(message: string): ChatError {
  return new ChatError(ERR_CHAT_BAD_FIELD, message);
}

function checkCount(n: number, max: number, what: string): void {
  if (!Number.isInteger(n) || n < 0 || n > max) throw new ChatError(ERR_CHAT_TOO_LARGE, `${what}: ${n} exceeds the cap of ${max}`);
}

function checkId(id: Buffer): void {
  if (id.length !== MESSAGE_ID_BYTES) throw new ChatError(ERR_CHAT_BAD_INPUT, `a message ID is ${MESSAGE_ID_BYTES} bytes`);
}

function writeHlc(w: ByteWriter, t: Hlc): void {
  if (!isValidHlc(t)) throw new ChatError(ERR_CHAT_BAD_INPUT, 'invalid hybrid logical clock value');
  w.i64(t.wallMs).u16(t.counter);
}

function readHlc(r: ByteReader): Hlc {
  return { wallMs: r.safeI64('HLC wall'), counter: r.u16('HLC counter') };
}

function writeIdent(w: ByteWriter, s: string): void {
  const b = Buffer.from(s, 'utf8');
  if (b.length === 0 || b.length > MAX_IDENT_BYTES) throw new ChatError(ERR_CHAT_BAD_INPUT, `an identity is 1..${MAX_IDENT_BYTES} bytes`);
  w.u8(b.length).bytes(b);
}

function readIdent(r: ByteReader): string {
  const n = r.u8('identity length');
  if (n === 0) throw bad('empty identity');
  return r.utf8(n, 'identity');
}

function writeIds(w: ByteWriter, ids: Buffer[], max: number, what: string): void {
  checkCount(ids.length, max, what);
  w.u16(ids.length);
  for (const id of ids) { checkId(id); w.bytes(id); }
}

function readIds(r: ByteReader, max: number, what: string): Buffer[] {
  const n = r.u16(`${what} count`);
  if (n > max) throw bad(`${what}: count ${n} exceeds ${max}`);
  const ids: Buffer[] = [];
  for (let i = 0; i < n; i++) ids.push(r.bytes(MESSAGE_ID_BYTES, 'message ID'));
  return ids;
}

function writePeerInfo(w: ByteWriter, p: PeerInfo): void {
  writeIdent(w, p.identity);
  checkCount(p.endpoints.length, MAX_ENDPOINTS_PER_PEER, 'end points per peer');
  w.u8(p.endpoints.length);
  for (const ep of p.endpoints) writeIpep(w, ep);
}

function readPeerInfo(r: ByteReader): PeerInfo {
  const identity = readIdent(r);
  const n = r.u8('end point count');
  if (n > MAX_ENDPOINTS_PER_PEER) throw bad(`end point count ${n} exceeds ${MAX_ENDPOINTS_PER_PEER}`);
  const endpoints: Endpoint[] = [];
  for (let i = 0; i < n; i++) endpoints.push(readIpep(r));
  return { identity, endpoints };
}

/** Encodes one message; throws ERR_CHAT_TOO_LARGE past any cap, ERR_CHAT_BAD_INPUT on malformed values. */
export function encodeMessage(msg: ChatMessage): Buffer {
  const w = new ByteWriter(MAX_MESSAGE_SIZE, `message '${msg.kind}'`);
  switch (msg.kind) {
    case 'noop':
      return w.u8(MSG_NOOP).finish();
    case 'typing':
      return w.u8(MSG_TYPING).finish();
    case 'peer-exchange': {
      checkCount(msg.parts, MAX_PEER_EXCHANGE_PARTS, 'peer exchange parts');
      if (msg.parts < 1 || !Number.isInteger(msg.part) || msg.part < 0 || msg.part >= msg.parts) {
        throw new ChatError(ERR_CHAT_BAD_INPUT, 'peer exchange part must be 0..parts-1');
      }
      checkCount(msg.peers.length, MAX_PEERS_PER_PART, 'peers per peer exchange part');
      w.u8(MSG_PEER_EXCHANGE).u32(msg.seq >>> 0).u16(msg.part).u16(msg.parts).u16(msg.peers.length);
      for (const p of msg.peers) writePeerInfo(w, p);
      return w.finish();
    }
    case 'text':
      checkId(msg.id);
      w.u8(MSG_TEXT).bytes(msg.id);
      writeHlc(w, msg.hlc);
      return w.bytes(Buffer.from(msg.text, 'utf8')).finish();
    case 'delivery':
      if (msg.ids.length === 0) throw new ChatError(ERR_CHAT_BAD_INPUT, 'a delivery notification names at least one message');
      w.u8(MSG_DELIVERY);
      writeIds(w, msg.ids, MAX_DELIVERY_IDS, 'delivery IDs');
      return w.finish();
    case 'profile-image':
    case 'group-image':
      return w
        .u8(msg.kind === 'profile-image' ? MSG_PROFILE_IMAGE : MSG_GROUP_IMAGE)
        .i64(checkDate(msg.dateModified))
        .bytes(msg.image)
        .finish();
    case 'history-request':
      w.u8(MSG_HISTORY_REQUEST).u32(msg.requestId >>> 0);
      if (msg.mode === 'inventory') {
        checkCount(msg.limit, MAX_INVENTORY_ENTRIES, 'history inventory limit');
        w.u8(HISTORY_MODE_INVENTORY);
        writeHlc(w, msg.since);
        w.u16(msg.limit);
      } else {
        w.u8(HISTORY_MODE_FETCH);
        writeIds(w, msg.ids, MAX_FETCH_IDS, 'history fetch IDs');
      }
      return w.finish();
    case 'history-inventory':
      checkCount(msg.entries.length, MAX_INVENTORY_ENTRIES, 'history inventory entries');
      w.u8(MSG_HISTORY_INVENTORY).u32(msg.requestId >>> 0).u8(msg.more ? MORE_FLAG : 0).u16(msg.entries.length);
      for (const e of msg.entries) { checkId(e.id); w.bytes(e.id); writeHlc(w, e.hlc); }
      return w.finish();
    case 'history-messages':
      checkCount(msg.messages.length, MAX_HISTORY_MESSAGES, 'history messages');
      w.u8(MSG_HISTORY_MESSAGES).u32(msg.requestId >>> 0).u8(msg.more ? MORE_FLAG : 0).u16(msg.messages.length);
      for (const m of msg.messages) {
        checkId(m.id);
        w.bytes(m.id);
        writeHlc(w, m.hlc);
        writeIdent(w, m.sender);
        const t = Buffer.from(m.text, 'utf8');
        checkCount(t.length, MAX_TEXT_BYTES, 'history text bytes');
        w.u16(t.length).bytes(t);
      }
      return w.finish();
    case 'plugin':
      if (!Number.isInteger(msg.type) || msg.type <= MSG_HISTORY_MESSAGES || msg.type > 0xff) {
        throw new ChatError(ERR_CHAT_BAD_INPUT, `plugin message type must be ${MSG_HISTORY_MESSAGES + 1}..255`);
      }
      return w.u8(msg.type).bytes(msg.payload).finish();
    case 'unknown':
      throw new ChatError(ERR_CHAT_BAD_INPUT, 'an unknown message cannot be encoded');
  }
}

function checkDate(ms: number): number {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new ChatError(ERR_CHAT_BAD_INPUT, 'a date is a non-negative integer of ms');
  return ms;
}

/**
 * Decodes one message. Core types are decoded strictly; a type a plugin registered
 * comes back as `plugin` with its raw payload; any other type as `unknown`.
 * Throws a ChatError (never anything else) on malformed input.
 */
export function decodeMessage(buf: Buffer, registry?: ChatMessageTypes): ChatMessage {
  if (buf.length > MAX_MESSAGE_SIZE) throw new ChatError(ERR_CHAT_TOO_LARGE, `message of ${buf.length} bytes exceeds ${MAX_MESSAGE_SIZE}`);
  const r = new ByteReader(buf, 'chat message');
  const type = r.u8('type');
  let msg: ChatMessage;
  switch (type) {
    case MSG_NOOP:
      msg = { kind: 'noop' };
      break;
    case MSG_TYPING:
      msg = { kind: 'typing' };
      break;
    case MSG_PEER_EXCHANGE: {
      const seq = r.u32('seq');
      const part = r.u16('part');
      const parts = r.u16('parts');
      if (parts < 1 || parts > MAX_PEER_EXCHANGE_PARTS || part >= parts) throw bad(`peer exchange part ${part}/${parts}`);
      const count = r.u16('peer count');
      if (count > MAX_PEERS_PER_PART) throw bad(`peer count ${count} exceeds ${MAX_PEERS_PER_PART}`);
      const peers: PeerInfo[] = [];
      for (let i = 0; i < count; i++) peers.push(readPeerInfo(r));
      msg = { kind: 'peer-exchange', seq, part, parts, peers };
      break;
    }
    case MSG_TEXT: {
      const id = r.bytes(MESSAGE_ID_BYTES, 'message ID');
      const hlc = readHlc(r);
      msg = { kind: 'text', id, hlc, text: r.utf8(r.remaining, 'text') };
      break;
    }
    case MSG_DELIVERY: {
      const ids = readIds(r, MAX_DELIVERY_IDS, 'delivery IDs');
      if (ids.length === 0) throw bad('empty delivery notification');
      msg = { kind: 'delivery', ids };
      break;
    }
    case MSG_PROFILE_IMAGE:
    case MSG_GROUP_IMAGE: {
      const dateModified = r.safeI64('date modified');
      const image = r.rest('image');
      msg = type === MSG_PROFILE_IMAGE ? { kind: 'profile-image', dateModified, image } : { kind: 'group-image', dateModified, image };
      break;
    }
    case MSG_HISTORY_REQUEST: {
      const requestId = r.u32('request ID');
      const mode = r.u8('mode');
      if (mode === HISTORY_MODE_INVENTORY) {
        const since = readHlc(r);
        const limit = r.u16('limit');
        if (limit > MAX_INVENTORY_ENTRIES) throw bad(`inventory limit ${limit} exceeds ${MAX_INVENTORY_ENTRIES}`);
        msg = { kind: 'history-request', requestId, mode: 'inventory', since, limit };
      } else if (mode === HISTORY_MODE_FETCH) {
        msg = { kind: 'history-request', requestId, mode: 'fetch', ids: readIds(r, MAX_FETCH_IDS, 'fetch IDs') };
      } else throw bad(`unknown history request mode ${mode}`);
      break;
    }
    case MSG_HISTORY_INVENTORY: {
      const requestId = r.u32('request ID');
      const flags = r.u8('flags');
      if ((flags & ~MORE_FLAG) !== 0) throw bad(`unknown inventory flags ${flags}`);
      const count = r.u16('entry count');
      if (count > MAX_INVENTORY_ENTRIES) throw bad(`inventory count ${count} exceeds ${MAX_INVENTORY_ENTRIES}`);
      const entries: Array<{ id: Buffer; hlc: Hlc }> = [];
      for (let i = 0; i < count; i++) entries.push({ id: r.bytes(MESSAGE_ID_BYTES, 'message ID'), hlc: readHlc(r) });
      msg = { kind: 'history-inventory', requestId, more: (flags & MORE_FLAG) !== 0, entries };
      break;
    }
    case MSG_HISTORY_MESSAGES: {
      const requestId = r.u32('request ID');
      const flags = r.u8('flags');
      if ((flags & ~MORE_FLAG) !== 0) throw bad(`unknown history flags ${flags}`);
      const count = r.u16('message count');
      if (count > MAX_HISTORY_MESSAGES) throw bad(`history message count ${count} exceeds ${MAX_HISTORY_MESSAGES}`);
      const messages: HistoryRecord[] = [];
      for (let i = 0; i < count; i++) {
        const id = r.bytes(MESSAGE_ID_BYTES, 'message ID');
        const hlc = readHlc(r);
        const sender = readIdent(r);
        messages.push({ id, hlc, sender, text: r.utf8(r.u16('text length'), 'text') });
      }
      msg = { kind: 'history-messages', requestId, more: (flags & MORE_FLAG) !== 0, messages };
      break;
    }
    default: {
      const entry = registry?.get(type);
      if (entry && entry.owner !== 'core') return { kind: 'plugin', type, name: entry.name, owner: entry.owner, payload: r.rest('payload') };
      return { kind: 'unknown', type };
    }
  }
  r.end();
  return msg;
}

/** Upper bound of one PeerInfo's encoded size, for packing lists into parts. */
function peerInfoSize(p: PeerInfo): number {
  return 1 + Buffer.byteLength(p.identity, 'utf8') + 1 + p.endpoints.length * IPEP_V6_BYTES;
}

/**
 * Splits a full peer list into as few PeerExchange messages as fit the size and count
 * caps, all with the same `seq`. An empty list is one part with no peers (it tells the
 * receiver we are connected to nobody).
 */
export function encodePeerExchange(peers: PeerInfo[], seq: number): Buffer[] {
  const groups: PeerInfo[][] = [[]];
  let size = PEER_EXCHANGE_HEADER_BYTES;
  for (const p of peers) {
    const s = peerInfoSize(p);
    const cur = groups[groups.length - 1]!;
    if (cur.length >= MAX_PEERS_PER_PART || size + s > MAX_MESSAGE_SIZE) {
      groups.push([p]);
      size = PEER_EXCHANGE_HEADER_BYTES + s;
    } else {
      cur.push(p);
      size += s;
    }
  }
  checkCount(groups.length, MAX_PEER_EXCHANGE_PARTS, 'peer exchange parts');
  return groups.map((g, part) => encodeMessage({ kind: 'peer-exchange', seq, part, parts: groups.length, peers: g }));
}
