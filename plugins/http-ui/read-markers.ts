/**
 * Per-chat read markers in the plugin's own table, so unread counts survive a
 * restart. A chat is keyed by its network ID (hex), which stays the same when a
 * chat is left and joined again, unlike the local chat ID that may be reused.
 *
 * | column     | |
 * |------------|---|
 * | chat_key   | network ID in hex (or the chat ID, for a service that exposes none) |
 * | read_seq   | the highest message sequence number the user has seen |
 * | unread     | incoming messages after `read_seq` |
 * | last_seq   | the sequence number of the newest one counted |
 * | updated_at | ms since the epoch |
 *
 * The chat service counts nothing itself; the count is kept from its `message`
 * events, which the node sees whether or not a page is open.
 */
import type { Database } from 'better-sqlite3';
import type { Migration } from '../../core/storage.js';

const PLUGIN_NAME = 'http-ui';

export const READ_MARKER_MIGRATIONS: readonly Migration[] = [
  {
    owner: PLUGIN_NAME,
    id: '001-read-markers',
    up(db) {
      db.exec(`
        CREATE TABLE http_ui_read_markers (
          chat_key   TEXT PRIMARY KEY,
          read_seq   INTEGER NOT NULL DEFAULT 0,
          unread     INTEGER NOT NULL DEFAULT 0,
          last_seq   INTEGER NOT NULL DEFAULT 0,
          updated_at INTEGER NOT NULL
        );
      `);
    },
  },
];

export class ReadMarkers {
  readonly stats = { counted: 0, marked: 0 };
  readonly #db: Database;

  /** Needs READ_MARKER_MIGRATIONS applied. */
  constructor(db: Database) {
    this.#db = db;
  }

  unread(chatKey: string): number {
    const row = this.#db.prepare('SELECT unread FROM http_ui_read_markers WHERE chat_key = ?').get(chatKey) as { unread: number } | undefined;
    return row?.unread ?? 0;
  }

  /**
   * An incoming message: counted unless it is at or before the marker (a message
   * seen again after a restart). `seq` 0: a service without sequence numbers; always counted.
   */
  countIncoming(chatKey: string, seq: number): void {
    const result = this.#db
      .prepare(
        `INSERT INTO http_ui_read_markers (chat_key, read_seq, unread, last_seq, updated_at) VALUES (?, 0, 1, ?, ?)
         ON CONFLICT (chat_key) DO UPDATE SET unread = unread + 1, last_seq = max(last_seq, excluded.last_seq), updated_at = excluded.updated_at
         WHERE excluded.last_seq = 0 OR read_seq < excluded.last_seq`,
      )
      .run(chatKey, seq, Date.now());
    if (result.changes > 0) this.stats.counted++;
  }

  /**
   * The user has seen the chat up to `seq` (the newest message shown). Nothing is
   * unread unless a message newer than that was counted meanwhile (the page had not
   * shown it yet): then the count stays until that one is seen too.
   */
  markRead(chatKey: string, seq: number): void {
    this.#db
      .prepare(
        `INSERT INTO http_ui_read_markers (chat_key, read_seq, unread, updated_at) VALUES (?, ?, 0, ?)
         ON CONFLICT (chat_key) DO UPDATE SET read_seq = max(read_seq, excluded.read_seq),
           unread = CASE WHEN excluded.read_seq >= last_seq THEN 0 ELSE unread END, updated_at = excluded.updated_at`,
      )
      .run(chatKey, seq, Date.now());
    this.stats.marked++;
  }

  /** The chat was left: its marker goes with its history. */
  forget(chatKey: string): void {
    this.#db.prepare('DELETE FROM http_ui_read_markers WHERE chat_key = ?').run(chatKey);
  }
}

/** What the routes and the event bridge need: unread counts by local chat ID. */
export interface UnreadTracker {
  unreadOf(chatId: number): number;
  /** The user has seen the chat up to message `seq`. */
  markRead(chatId: number, seq: number): void;
  /** An incoming message arrived in the chat. */
  countIncoming(chatId: number, seq: number): void;
  /** The chat is being left. */
  forget(chatId: number): void;
}

type ChatList = () => unknown;

/**
 * Read markers addressed by local chat ID: maps each to its network ID through
 * the chat service's `list()` (cached; a miss reads the list again).
 */
export class ChatReadMarkers implements UnreadTracker {
  readonly #markers: ReadMarkers;
  readonly #list: () => ChatList | undefined;
  readonly #keys = new Map<number, string>();

  /** `list`: the current chat service's `list`, if one is running. */
  constructor(markers: ReadMarkers, list: () => ChatList | undefined) {
    this.#markers = markers;
    this.#list = list;
  }

  /** A new chat service (another unlock): chat IDs are read again. */
  reset(): void {
    this.#keys.clear();
  }

  unreadOf(chatId: number): number {
    const key = this.#keyOf(chatId);
    return key === undefined ? 0 : this.#markers.unread(key);
  }

  markRead(chatId: number, seq: number): void {
    const key = this.#keyOf(chatId);
    if (key !== undefined) this.#markers.markRead(key, seq);
  }

  countIncoming(chatId: number, seq: number): void {
    const key = this.#keyOf(chatId);
    if (key !== undefined) this.#markers.countIncoming(key, seq);
  }

  forget(chatId: number): void {
    const key = this.#keyOf(chatId);
    if (key !== undefined) this.#markers.forget(key);
    this.#keys.delete(chatId);
  }

  #keyOf(chatId: number): string | undefined {
    const known = this.#keys.get(chatId);
    if (known !== undefined) return known;
    let summaries: unknown;
    try {
      summaries = this.#list()?.();
    } catch {
      return undefined; // Locked meanwhile.
    }
    if (!Array.isArray(summaries)) return undefined;
    for (const s of summaries as Array<Record<string, unknown>>) {
      const id = Number(s.chatId ?? s.id);
      if (!Number.isSafeInteger(id)) continue;
      this.#keys.set(id, Buffer.isBuffer(s.networkId) ? s.networkId.toString('hex') : String(id));
    }
    return this.#keys.get(chatId);
  }
}
