/**
 * Core's chat schema, as migrations the Storage service applies once per database
 * (each `up` runs inside a transaction).
 *
 * What is plaintext and why: chats and members (needed to rebuild the mesh at start,
 * and the network secret lives in the profile, not here), message IDs and clocks
 * (de-duplication, ordering, paging, history sync by ID), the per-recipient delivery
 * rows (offline re-send) and an `outgoing` flag. Who said what — the sender and the
 * content — is only in `message.body`, sealed with AES-256-GCM (sealed-body.ts).
 */
import type { Database } from 'better-sqlite3';
import type { Migration } from '../storage.js';

export const CHAT_MIGRATIONS: readonly Migration[] = Object.freeze([
  {
    owner: 'core',
    id: '001-chat-history',
    up(db: Database): void {
      db.exec(`
        CREATE TABLE chat (
          chat_id     INTEGER PRIMARY KEY,
          network_id  BLOB    NOT NULL UNIQUE CHECK (length(network_id) = 20),
          kind        TEXT    NOT NULL CHECK (kind IN ('group', 'private')),
          name        TEXT    NOT NULL,
          online      INTEGER NOT NULL DEFAULT 0,
          muted       INTEGER NOT NULL DEFAULT 0,
          created_at  INTEGER NOT NULL,
          image       BLOB,
          image_date  INTEGER
        );
        CREATE TABLE member (
          chat_id     INTEGER NOT NULL REFERENCES chat (chat_id) ON DELETE CASCADE,
          identity    TEXT    NOT NULL,
          added_at    INTEGER NOT NULL,
          PRIMARY KEY (chat_id, identity)
        ) WITHOUT ROWID;
        CREATE TABLE message (
          seq         INTEGER PRIMARY KEY,
          chat_id     INTEGER NOT NULL REFERENCES chat (chat_id) ON DELETE CASCADE,
          msg_id      BLOB    NOT NULL CHECK (length(msg_id) = 16),
          type        INTEGER NOT NULL,
          outgoing    INTEGER NOT NULL,
          hlc_wall    INTEGER NOT NULL,
          hlc_counter INTEGER NOT NULL,
          received_at INTEGER NOT NULL,
          body        BLOB    NOT NULL,
          UNIQUE (chat_id, msg_id)
        );
        CREATE INDEX message_by_clock ON message (chat_id, hlc_wall, hlc_counter, msg_id);
        CREATE TABLE delivery (
          seq          INTEGER NOT NULL REFERENCES message (seq) ON DELETE CASCADE,
          recipient    TEXT    NOT NULL,
          delivered_at INTEGER,
          PRIMARY KEY (seq, recipient)
        ) WITHOUT ROWID;
        CREATE INDEX delivery_pending ON delivery (recipient, seq) WHERE delivered_at IS NULL;
        CREATE TABLE pinned_key (
          identity     TEXT    PRIMARY KEY,
          fingerprint  BLOB    NOT NULL,
          certificate  BLOB,
          first_seen   INTEGER NOT NULL,
          last_seen    INTEGER NOT NULL,
          replaced_at  INTEGER
        ) WITHOUT ROWID;
        CREATE TABLE peer_image (
          identity     TEXT    PRIMARY KEY,
          image_date   INTEGER NOT NULL,
          image        BLOB    NOT NULL
        ) WITHOUT ROWID;
      `);
    },
  },
]);
