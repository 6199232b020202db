/**
 * Chat history in SQLite: chats, members, messages, per-recipient delivery, pinned
 * keys and peer images (schema: history-migrations.ts). Message bodies (sender and
 * content) are sealed with AES-256-GCM under a 32-byte key the profile holds.
 *
 * Guarantees the chat layer builds on:
 * - De-duplication: a message ID is stored once per chat; `addMessage` says whether
 *   the row is new, and only new rows go to the UI, so nothing is delivered twice.
 * - Offline re-send: `undelivered(chat, recipient)` lists own messages that recipient
 *   has not acknowledged, oldest first.
 * - History sync by ID: `inventorySince` / `missingIds` / `getByIds`, all bounded.
 * - Search is decrypt-and-scan, newest first, bounded by `scanLimit` rows per call with
 *   a cursor to continue. Why not an index: any index usable without the key (even
 *   blinded word hashes) leaks word frequencies and equality across messages; scanning
 *   decrypts ~1 row/µs, so a bounded scan answers recent history at interactive speed.
 *
 * The database handle is owned by the caller (the kernel's Storage service opens it
 * with WAL and an explicit `synchronous`, and applies CHAT_MIGRATIONS first).
 */
import type { Database, Statement } from 'better-sqlite3';
import { ChatError, ERR_CHAT_BAD_INPUT, ERR_CHAT_UNKNOWN_CHAT } from './errors.js';
import type { Hlc } from './hlc.js';
import { isValidHlc } from './hlc.js';
import { MESSAGE_ID_BYTES } from './message-codec.js';
import { MSG_TEXT } from './message-types.js';
import { checkHistoryKey, openBody, sealBody } from './sealed-body.js';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;
export const DEFAULT_SEARCH_SCAN = 10_000;
export const MAX_SEARCH_SCAN = 100_000;
export const MAX_SEARCH_HITS = 500;
export const MAX_IDS_PER_QUERY = 2048;
export const MAX_RECIPIENTS = 100_000;
/** Rows fetched per round trip while scanning for search. */
const SEARCH_BATCH = 256;
const MAX_SENDER_BYTES = 255;

export type ChatKind = 'group' | 'private';

export interface ChatRecord {
  chatId: number;
  networkId: Buffer;
  kind: ChatKind;
  /** Group name, or the peer's e-mail for a private chat. */
  name: string;
  online: boolean;
  muted: boolean;
  createdAt: number;
}

export interface StoredMessage {
  /** Local insertion order; a search cursor. */
  seq: number;
  chatId: number;
  id: Buffer;
  type: number;
  sender: string;
  outgoing: boolean;
  hlc: Hlc;
  receivedAt: number;
  content: Buffer;
  /** The content as UTF-8 when `type` is Text. */
  text?: string;
}

export interface NewMessage {
  chatId: number;
  id: Buffer;
  /** Wire type; Text by default. */
  type?: number;
  sender: string;
  outgoing: boolean;
  hlc: Hlc;
  content: Buffer | string;
  /** For outgoing messages: who must acknowledge it (one delivery row each). */
  recipients?: string[];
  receivedAt?: number;
}

/** Cursor of `page`: everything strictly older than this (HLC, then ID). */
export interface PageCursor {
  hlc: Hlc;
  id: Buffer;
}

export interface Page {
  messages: StoredMessage[];
  /** Present when older messages exist. */
  next?: PageCursor;
}

export interface SearchOptions {
  chatId?: number;
  limit?: number;
  scanLimit?: number;
  /** Continue below this seq (from a previous result's `next`). */
  beforeSeq?: number;
}

export interface SearchResult {
  hits: StoredMessage[];
  scanned: number;
  /** Present when the scan stopped before the oldest row; pass as `beforeSeq`. */
  next?: number;
}

export interface DeliveryState {
  recipient: string;
  deliveredAt: number | null;
}

export type PinResult = 'new' | 'same' | 'changed';

interface MessageRow {
  seq: number;
  chat_id: number;
  msg_id: Buffer;
  type: number;
  outgoing: number;
  hlc_wall: number;
  hlc_counter: number;
  received_at: number;
  body: Buffer;
  network_id: Buffer;
}

interface ChatRow {
  chat_id: number;
  network_id: Buffer;
  kind: ChatKind;
  name: string;
  online: number;
  muted: number;
  created_at: number;
}

const MESSAGE_COLUMNS = 'm.seq, m.chat_id, m.msg_id, m.type, m.outgoing, m.hlc_wall, m.hlc_counter, m.received_at, m.body, c.network_id';
const FROM_MESSAGE = 'FROM message m JOIN chat c ON c.chat_id = m.chat_id';

function clampInt(v: number | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v)) return max;
  return Math.min(max, Math.max(min, Math.floor(v)));
}

function checkId(id: Buffer): void {
  if (!Buffer.isBuffer(id) || id.length !== MESSAGE_ID_BYTES) throw new ChatError(ERR_CHAT_BAD_INPUT, `a message ID is ${MESSAGE_ID_BYTES} bytes`);
}

function checkIds(ids: Buffer[]): void {
  if (ids.length > MAX_IDS_PER_QUERY) throw new ChatError(ERR_CHAT_BAD_INPUT, `at most ${MAX_IDS_PER_QUERY} IDs per query`);
  ids.forEach(checkId);
}

function normaliseForSearch(s: string): string {
  return s.normalize('NFC').toLowerCase();
}

export class HistoryStore {
  readonly stats = { inserted: 0, duplicates: 0, delivered: 0, decrypted: 0, searchScanned: 0, corruptRows: 0 };
  private readonly key: Buffer;
  private readonly now: () => number;
  private readonly st: Record<string, Statement>;
  private readonly insertTx: (m: NewMessage, type: number, body: Buffer, recipients: string[]) => { inserted: boolean; seq: number };
  private readonly markManyTx: (chatId: number, acks: ReadonlyArray<{ id: Buffer; recipient: string }>, at: number) => boolean[];
  /** chatId -> network ID (the AAD of every body); a chat's network ID never changes. */
  private readonly networkIds = new Map<number, Buffer>();

  /**
   * @param db an open database on which CHAT_MIGRATIONS have been applied
   * @param key the 32-byte history key from the profile
   */
  constructor(private readonly db: Database, key: Buffer, options: { now?: () => number } = {}) {
    checkHistoryKey(key);
    this.key = Buffer.from(key);
    this.now = options.now ?? Date.now;
    const p = (sql: string): Statement => db.prepare(sql);
    this.st = {
      chatById: p('SELECT * FROM chat WHERE chat_id = ?'),
      chatByNetwork: p('SELECT * FROM chat WHERE network_id = ?'),
      chats: p('SELECT * FROM chat ORDER BY chat_id'),
      insertChat: p('INSERT INTO chat (network_id, kind, name, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (network_id) DO NOTHING'),
      setOnline: p('UPDATE chat SET online = ? WHERE chat_id = ?'),
      setMuted: p('UPDATE chat SET muted = ? WHERE chat_id = ?'),
      deleteChat: p('DELETE FROM chat WHERE chat_id = ?'),
      groupImage: p('SELECT image, image_date FROM chat WHERE chat_id = ?'),
      setGroupImage: p('UPDATE chat SET image = ?, image_date = ? WHERE chat_id = ? AND (image_date IS NULL OR image_date < ?)'),
      addMember: p('INSERT INTO member (chat_id, identity, added_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
      removeMember: p('DELETE FROM member WHERE chat_id = ? AND identity = ?'),
      members: p('SELECT identity FROM member WHERE chat_id = ? ORDER BY identity'),
      insertMessage: p(
        'INSERT INTO message (chat_id, msg_id, type, outgoing, hlc_wall, hlc_counter, received_at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (chat_id, msg_id) DO NOTHING',
      ),
      insertDelivery: p('INSERT INTO delivery (seq, recipient) VALUES (?, ?) ON CONFLICT DO NOTHING'),
      messageById: p(`SELECT ${MESSAGE_COLUMNS} ${FROM_MESSAGE} WHERE m.chat_id = ? AND m.msg_id = ?`),
      seqById: p('SELECT seq FROM message WHERE chat_id = ? AND msg_id = ?'),
      pageFirst: p(`SELECT ${MESSAGE_COLUMNS} ${FROM_MESSAGE} WHERE m.chat_id = ? ORDER BY m.hlc_wall DESC, m.hlc_counter DESC, m.msg_id DESC LIMIT ?`),
      pageBefore: p(
        `SELECT ${MESSAGE_COLUMNS} ${FROM_MESSAGE} WHERE m.chat_id = ? AND (m.hlc_wall, m.hlc_counter, m.msg_id) < (?, ?, ?) ORDER BY m.hlc_wall DESC, m.hlc_counter DESC, m.msg_id DESC LIMIT ?`,
      ),
      scanAll: p(`SELECT ${MESSAGE_COLUMNS} ${FROM_MESSAGE} WHERE m.seq < ? ORDER BY m.seq DESC LIMIT ?`),
      scanChat: p(`SELECT ${MESSAGE_COLUMNS} ${FROM_MESSAGE} WHERE m.chat_id = ? AND m.seq < ? ORDER BY m.seq DESC LIMIT ?`),
      markDelivered: p(
        'UPDATE delivery SET delivered_at = ? WHERE recipient = ? AND delivered_at IS NULL AND seq = (SELECT seq FROM message WHERE chat_id = ? AND msg_id = ?)',
      ),
      deliveryOf: p('SELECT d.recipient, d.delivered_at FROM delivery d JOIN message m ON m.seq = d.seq WHERE m.chat_id = ? AND m.msg_id = ? ORDER BY d.recipient'),
      undelivered: p(
        `SELECT ${MESSAGE_COLUMNS} FROM delivery d JOIN message m ON m.seq = d.seq JOIN chat c ON c.chat_id = m.chat_id
         WHERE d.recipient = ? AND d.delivered_at IS NULL AND m.chat_id = ? ORDER BY m.hlc_wall, m.hlc_counter, m.msg_id LIMIT ?`,
      ),
      inventory: p(
        `SELECT msg_id, hlc_wall, hlc_counter FROM message WHERE chat_id = ? AND (hlc_wall, hlc_counter) >= (?, ?) AND type = ${MSG_TEXT}
         ORDER BY hlc_wall, hlc_counter, msg_id LIMIT ?`,
      ),
      latest: p('SELECT hlc_wall, hlc_counter FROM message WHERE chat_id = ? ORDER BY hlc_wall DESC, hlc_counter DESC LIMIT 1'),
      pinned: p('SELECT * FROM pinned_key WHERE identity = ?'),
      insertPin: p('INSERT INTO pinned_key (identity, fingerprint, certificate, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)'),
      touchPin: p('UPDATE pinned_key SET last_seen = ? WHERE identity = ?'),
      replacePin: p('UPDATE pinned_key SET fingerprint = ?, certificate = ?, last_seen = ?, replaced_at = ? WHERE identity = ?'),
      peerImage: p('SELECT image, image_date FROM peer_image WHERE identity = ?'),
      setPeerImage: p(
        'INSERT INTO peer_image (identity, image_date, image) VALUES (?, ?, ?) ON CONFLICT (identity) DO UPDATE SET image_date = excluded.image_date, image = excluded.image WHERE excluded.image_date > peer_image.image_date',
      ),
    };
    // Built once: better-sqlite3 wraps the function per call otherwise.
    this.markManyTx = db.transaction((chatId: number, acks: ReadonlyArray<{ id: Buffer; recipient: string }>, at: number) =>
      acks.map((a) => {
        const changed = this.st.markDelivered!.run(at, a.recipient, chatId, a.id).changes > 0;
        if (changed) this.stats.delivered++;
        return changed;
      }),
    );
    this.insertTx = db.transaction((m: NewMessage, type: number, body: Buffer, recipients: string[]) => {
      const res = this.st.insertMessage!.run(m.chatId, m.id, type, m.outgoing ? 1 : 0, m.hlc.wallMs, m.hlc.counter, m.receivedAt ?? this.now(), body);
      if (res.changes === 0) {
        this.stats.duplicates++;
        const existing = this.st.seqById!.get(m.chatId, m.id) as { seq: number };
        return { inserted: false, seq: existing.seq };
      }
      const seq = Number(res.lastInsertRowid);
      for (const r of recipients) this.st.insertDelivery!.run(seq, r);
      this.stats.inserted++;
      return { inserted: true, seq };
    });
  }

  // ---- chats and members ----

  /** Creates the chat, or returns the existing one with that network ID. */
  addChat(input: { networkId: Buffer; kind: ChatKind; name: string }): ChatRecord {
    if (input.networkId.length !== 20) throw new ChatError(ERR_CHAT_BAD_INPUT, 'network ID must be 20 bytes');
    this.st.insertChat!.run(input.networkId, input.kind, input.name, this.now());
    return this.chatByNetworkId(input.networkId)!;
  }

  chat(chatId: number): ChatRecord | undefined {
    const r = this.st.chatById!.get(chatId) as ChatRow | undefined;
    return r && toChat(r);
  }

  /** The chat's network ID, cached (hot path: every message); forgotten when the chat is deleted (IDs are reused). */
  networkIdOf(chatId: number): Buffer | undefined {
    let id = this.networkIds.get(chatId);
    if (!id) {
      id = this.chat(chatId)?.networkId;
      if (id) this.networkIds.set(chatId, id);
    }
    return id;
  }

  chatByNetworkId(networkId: Buffer): ChatRecord | undefined {
    const r = this.st.chatByNetwork!.get(networkId) as ChatRow | undefined;
    return r && toChat(r);
  }

  chats(): ChatRecord[] {
    return (this.st.chats!.all() as ChatRow[]).map(toChat);
  }

  setOnline(chatId: number, online: boolean): void {
    this.st.setOnline!.run(online ? 1 : 0, chatId);
  }

  setMuted(chatId: number, muted: boolean): void {
    this.st.setMuted!.run(muted ? 1 : 0, chatId);
  }

  /** Deletes the chat with its members, messages and delivery rows. */
  deleteChat(chatId: number): void {
    this.networkIds.delete(chatId);
    this.st.deleteChat!.run(chatId);
  }

  /** Newest date wins (spec §4.5); returns false when the stored image is as new or newer. */
  setGroupImage(chatId: number, dateModified: number, image: Buffer): boolean {
    return this.st.setGroupImage!.run(image, dateModified, chatId, dateModified).changes > 0;
  }

  groupImage(chatId: number): { dateModified: number; image: Buffer } | undefined {
    const r = this.st.groupImage!.get(chatId) as { image: Buffer | null; image_date: number | null } | undefined;
    return r && r.image && r.image_date !== null ? { dateModified: r.image_date, image: r.image } : undefined;
  }

  addMember(chatId: number, identity: string): boolean {
    return this.st.addMember!.run(chatId, identity, this.now()).changes > 0;
  }

  removeMember(chatId: number, identity: string): boolean {
    return this.st.removeMember!.run(chatId, identity).changes > 0;
  }

  members(chatId: number): string[] {
    return (this.st.members!.all(chatId) as Array<{ identity: string }>).map((r) => r.identity);
  }

  // ---- messages ----

  /**
   * Stores a message unless its ID is already in the chat. Returns `inserted: false`
   * for a duplicate (the caller must not show it again). Delivery rows are created
   * for `recipients` in the same transaction.
   */
  addMessage(m: NewMessage): { inserted: boolean; seq: number; receivedAt: number } {
    checkId(m.id);
    if (!isValidHlc(m.hlc)) throw new ChatError(ERR_CHAT_BAD_INPUT, 'invalid hybrid logical clock value');
    const recipients = m.recipients ?? [];
    if (recipients.length > MAX_RECIPIENTS) throw new ChatError(ERR_CHAT_BAD_INPUT, `at most ${MAX_RECIPIENTS} recipients`);
    const sender = Buffer.from(m.sender, 'utf8');
    if (sender.length === 0 || sender.length > MAX_SENDER_BYTES) throw new ChatError(ERR_CHAT_BAD_INPUT, 'sender must be 1..255 bytes');
    const networkId = this.requireNetworkId(m.chatId);
    const type = m.type ?? MSG_TEXT;
    const content = typeof m.content === 'string' ? Buffer.from(m.content, 'utf8') : m.content;
    const plain = Buffer.concat([Buffer.from([sender.length]), sender, content]);
    const body = sealBody(this.key, networkId, m.id, type, plain);
    const receivedAt = m.receivedAt ?? this.now();
    return { ...this.insertTx({ ...m, receivedAt }, type, body, recipients), receivedAt };
  }

  /** The row `addMessage` just stored, without reading it back (it would be decrypted again). */
  static asStored(m: NewMessage, seq: number, receivedAt: number): StoredMessage {
    const type = m.type ?? MSG_TEXT;
    const content = typeof m.content === 'string' ? Buffer.from(m.content, 'utf8') : m.content;
    const out: StoredMessage = { seq, chatId: m.chatId, id: m.id, type, sender: m.sender, outgoing: m.outgoing, hlc: m.hlc, receivedAt, content };
    if (type === MSG_TEXT) out.text = typeof m.content === 'string' ? m.content : content.toString('utf8');
    return out;
  }

  message(chatId: number, id: Buffer): StoredMessage | undefined {
    checkId(id);
    const r = this.st.messageById!.get(chatId, id) as MessageRow | undefined;
    return r && this.decrypt(r);
  }

  /** Newest first, `limit` (<= MAX_PAGE_SIZE) at a time, in HLC order. */
  page(chatId: number, options: { before?: PageCursor; limit?: number } = {}): Page {
    const limit = clampInt(options.limit, DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE);
    const b = options.before;
    if (b) checkId(b.id);
    const rows = (
      b
        ? this.st.pageBefore!.all(chatId, b.hlc.wallMs, b.hlc.counter, b.id, limit + 1)
        : this.st.pageFirst!.all(chatId, limit + 1)
    ) as MessageRow[];
    const messages = rows.slice(0, limit).map((r) => this.decrypt(r));
    const last = messages[messages.length - 1];
    return rows.length > limit && last ? { messages, next: { hlc: last.hlc, id: last.id } } : { messages };
  }

  /**
   * Case-insensitive substring search over text messages, newest first (by seq),
   * decrypting at most `scanLimit` rows per call.
   */
  search(query: string, options: SearchOptions = {}): SearchResult {
    const needle = normaliseForSearch(query);
    if (needle.length === 0) throw new ChatError(ERR_CHAT_BAD_INPUT, 'empty search');
    const limit = clampInt(options.limit, DEFAULT_PAGE_SIZE, 1, MAX_SEARCH_HITS);
    const scanLimit = clampInt(options.scanLimit, DEFAULT_SEARCH_SCAN, 1, MAX_SEARCH_SCAN);
    let before = options.beforeSeq ?? Number.MAX_SAFE_INTEGER;
    const hits: StoredMessage[] = [];
    let scanned = 0;
    let exhausted = false;
    while (hits.length < limit && scanned < scanLimit) {
      const batch = Math.min(SEARCH_BATCH, scanLimit - scanned);
      const rows = (
        options.chatId !== undefined ? this.st.scanChat!.all(options.chatId, before, batch) : this.st.scanAll!.all(before, batch)
      ) as MessageRow[];
      for (const r of rows) {
        scanned++;
        before = r.seq;
        if (r.type !== MSG_TEXT) continue;
        const m = this.tryDecrypt(r);
        if (m && normaliseForSearch(m.text ?? '').includes(needle)) {
          hits.push(m);
          if (hits.length >= limit) break;
        }
      }
      if (rows.length < batch) { exhausted = true; break; }
    }
    this.stats.searchScanned += scanned;
    return exhausted ? { hits, scanned } : { hits, scanned, next: before };
  }

  // ---- delivery ----

  /**
   * Marks one recipient's copy delivered. Only that recipient's own row changes, so a
   * peer cannot acknowledge for others (spec §4.7). False if unknown or already marked.
   */
  markDelivered(chatId: number, id: Buffer, recipient: string, at: number = this.now()): boolean {
    return this.markDeliveredMany(chatId, [{ id, recipient }], at)[0]!;
  }

  /**
   * Marks many acknowledgements in one transaction (one commit, not one per row: a
   * message to a group of n comes back as n acknowledgements). Returns, in order,
   * whether each one changed a row.
   */
  markDeliveredMany(chatId: number, acks: ReadonlyArray<{ id: Buffer; recipient: string }>, at: number = this.now()): boolean[] {
    for (const a of acks) checkId(a.id);
    return this.markManyTx(chatId, acks, at);
  }

  deliveryOf(chatId: number, id: Buffer): DeliveryState[] {
    checkId(id);
    return (this.st.deliveryOf!.all(chatId, id) as Array<{ recipient: string; delivered_at: number | null }>).map((r) => ({
      recipient: r.recipient,
      deliveredAt: r.delivered_at,
    }));
  }

  /** Messages `recipient` has not acknowledged, oldest first: what to re-send when it comes back. */
  undelivered(chatId: number, recipient: string, limit = MAX_PAGE_SIZE): StoredMessage[] {
    const n = clampInt(limit, MAX_PAGE_SIZE, 1, MAX_IDS_PER_QUERY);
    return (this.st.undelivered!.all(recipient, chatId, n) as MessageRow[]).map((r) => this.decrypt(r));
  }

  // ---- history sync ----

  /**
   * IDs and clocks of text messages at or after `since`, oldest first; `more` if the
   * limit cut the list. Inclusive, because two senders can share one HLC value.
   */
  inventorySince(chatId: number, since: Hlc, limit: number): { entries: Array<{ id: Buffer; hlc: Hlc }>; more: boolean } {
    const n = clampInt(limit, MAX_IDS_PER_QUERY, 1, MAX_IDS_PER_QUERY);
    const rows = this.st.inventory!.all(chatId, since.wallMs, since.counter, n + 1) as Array<{ msg_id: Buffer; hlc_wall: number; hlc_counter: number }>;
    return {
      entries: rows.slice(0, n).map((r) => ({ id: r.msg_id, hlc: { wallMs: r.hlc_wall, counter: r.hlc_counter } })),
      more: rows.length > n,
    };
  }

  /** The subset of `ids` this store does not hold (to fetch from a peer). */
  missingIds(chatId: number, ids: Buffer[]): Buffer[] {
    checkIds(ids);
    return ids.filter((id) => this.st.seqById!.get(chatId, id) === undefined);
  }

  /** The stored messages among `ids` (unknown IDs are skipped), in the order asked. */
  byIds(chatId: number, ids: Buffer[]): StoredMessage[] {
    checkIds(ids);
    const out: StoredMessage[] = [];
    for (const id of ids) {
      const r = this.st.messageById!.get(chatId, id) as MessageRow | undefined;
      if (r) out.push(this.decrypt(r));
    }
    return out;
  }

  /** The newest clock in a chat: where to start asking for what was missed. */
  latestClock(chatId: number): Hlc | undefined {
    const r = this.st.latest!.get(chatId) as { hlc_wall: number; hlc_counter: number } | undefined;
    return r && { wallMs: r.hlc_wall, counter: r.hlc_counter };
  }

  // ---- pinned keys and images ----

  /**
   * Trust on first use of a peer's key fingerprint: 'new' the first time, 'same' when
   * it matches, 'changed' when it replaced a different one (spec §4.1: warn the UI).
   */
  pinKey(identity: string, fingerprint: Buffer, certificate?: Buffer): PinResult {
    const now = this.now();
    return this.db.transaction((): PinResult => {
      const r = this.st.pinned!.get(identity) as { fingerprint: Buffer } | undefined;
      if (!r) {
        this.st.insertPin!.run(identity, fingerprint, certificate ?? null, now, now);
        return 'new';
      }
      if (r.fingerprint.equals(fingerprint)) {
        this.st.touchPin!.run(now, identity);
        return 'same';
      }
      this.st.replacePin!.run(fingerprint, certificate ?? null, now, now, identity);
      return 'changed';
    })();
  }

  pinnedKey(identity: string): { fingerprint: Buffer; certificate: Buffer | null; firstSeen: number; lastSeen: number; replacedAt: number | null } | undefined {
    const r = this.st.pinned!.get(identity) as
      | { fingerprint: Buffer; certificate: Buffer | null; first_seen: number; last_seen: number; replaced_at: number | null }
      | undefined;
    return r && { fingerprint: r.fingerprint, certificate: r.certificate, firstSeen: r.first_seen, lastSeen: r.last_seen, replacedAt: r.replaced_at };
  }

  /** Newest date wins (spec §4.5). */
  setPeerImage(identity: string, dateModified: number, image: Buffer): boolean {
    return this.st.setPeerImage!.run(identity, dateModified, image).changes > 0;
  }

  peerImage(identity: string): { dateModified: number; image: Buffer } | undefined {
    const r = this.st.peerImage!.get(identity) as { image: Buffer; image_date: number } | undefined;
    return r && { dateModified: r.image_date, image: r.image };
  }

  // ---- internals ----

  private requireNetworkId(chatId: number): Buffer {
    const id = this.networkIdOf(chatId);
    if (!id) throw new ChatError(ERR_CHAT_UNKNOWN_CHAT, `no chat ${chatId}`);
    return id;
  }

  private decrypt(r: MessageRow): StoredMessage {
    let plain: Buffer;
    try {
      plain = openBody(this.key, r.network_id, r.msg_id, r.type, r.body);
    } catch (e) {
      this.stats.corruptRows++;
      throw e;
    }
    this.stats.decrypted++;
    const senderLen = plain[0]!;
    const content = plain.subarray(1 + senderLen);
    const m: StoredMessage = {
      seq: r.seq,
      chatId: r.chat_id,
      id: r.msg_id,
      type: r.type,
      sender: plain.subarray(1, 1 + senderLen).toString('utf8'),
      outgoing: r.outgoing === 1,
      hlc: { wallMs: r.hlc_wall, counter: r.hlc_counter },
      receivedAt: r.received_at,
      content,
    };
    if (r.type === MSG_TEXT) m.text = content.toString('utf8');
    return m;
  }

  /** Search skips a corrupt row (counted) rather than failing the whole scan. */
  private tryDecrypt(r: MessageRow): StoredMessage | undefined {
    try {
      return this.decrypt(r);
    } catch {
      return undefined;
    }
  }
}

function toChat(r: ChatRow): ChatRecord {
  return { chatId: r.chat_id, networkId: r.network_id, kind: r.kind, name: r.name, online: r.online === 1, muted: r.muted === 1, createdAt: r.created_at };
}
