/**
 * A CA registration waiting for its mailed code, kept in the plugin's own
 * table so a restart of the node does not lose it: after the restart the user
 * unlocks the profile and enters the code (or cancels) as before.
 *
 * | column          | |
 * |-----------------|---|
 * | slot            | always 1: a node has at most one registration |
 * | key_fingerprint | the profile key's fingerprint (hex): a registration belongs to that key only |
 * | email           | the address the code was mailed to |
 * | ca_url          | the CA's address |
 * | ca_name         | the CA root's name, as shown to the user |
 * | ca_fingerprint  | the CA root key's fingerprint (hex) |
 * | ca_root         | the CA root certificate (DER; public) |
 * | request_id      | the CA's ID of the request, or NULL before one was made |
 * | expires_at      | when the mailed code stops working (ms since the epoch), or NULL |
 * | state           | 'code-sent' or 'failed' ('registering' is never saved: a restart interrupts it) |
 * | error           | the last failure's message, or NULL |
 * | updated_at      | ms since the epoch |
 *
 * Never here: the mailed code, the password, the private key (it stays in the
 * profile file, encrypted). The e-mail address and the CA's address are kept
 * in clear, like the rest of the UI's state in this database.
 */
import type { Database } from 'better-sqlite3';
import type { Migration } from '../../core/storage.js';

const PLUGIN_NAME = 'http-ui';
const SLOT = 1;
/** Longer values are not ours (a CA answer's request ID is short; a root is a few KiB). */
const MAX_TEXT_CHARS = 4096;
const MAX_ROOT_BYTES = 64 * 1024;

export const REGISTRATION_MIGRATIONS: readonly Migration[] = [
  {
    owner: PLUGIN_NAME,
    id: '002-ca-registration',
    up(db) {
      db.exec(`
        CREATE TABLE http_ui_ca_registration (
          slot            INTEGER PRIMARY KEY CHECK (slot = 1),
          key_fingerprint TEXT NOT NULL,
          email           TEXT NOT NULL,
          ca_url          TEXT NOT NULL,
          ca_name         TEXT NOT NULL,
          ca_fingerprint  TEXT NOT NULL,
          ca_root         BLOB NOT NULL,
          request_id      TEXT,
          expires_at      INTEGER,
          state           TEXT NOT NULL,
          error           TEXT,
          updated_at      INTEGER NOT NULL
        );
      `);
    },
  },
];

export interface SavedRegistration {
  keyFingerprint: string;
  email: string;
  caUrl: string;
  caName: string;
  caFingerprint: string;
  caRoot: Buffer;
  requestId: string | null;
  expiresAt: number | null;
  state: 'code-sent' | 'failed';
  error: string | null;
}

interface Row {
  key_fingerprint: unknown;
  email: unknown;
  ca_url: unknown;
  ca_name: unknown;
  ca_fingerprint: unknown;
  ca_root: unknown;
  request_id: unknown;
  expires_at: unknown;
  state: unknown;
  error: unknown;
}

function text(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_TEXT_CHARS;
}

/** A row as saved, or null when any field is not what `save` writes (a damaged or foreign row). */
export function rowToRegistration(row: Row): SavedRegistration | null {
  const { key_fingerprint, email, ca_url, ca_name, ca_fingerprint, ca_root, request_id, expires_at, state, error } = row;
  if (!text(key_fingerprint) || !text(email) || !text(ca_url) || !text(ca_name) || !text(ca_fingerprint)) return null;
  if (!Buffer.isBuffer(ca_root) || ca_root.length === 0 || ca_root.length > MAX_ROOT_BYTES) return null;
  if (request_id !== null && !text(request_id)) return null;
  if (expires_at !== null && !Number.isSafeInteger(expires_at)) return null;
  if (state !== 'code-sent' && state !== 'failed') return null;
  if (error !== null && typeof error !== 'string') return null;
  return {
    keyFingerprint: key_fingerprint,
    email,
    caUrl: ca_url,
    caName: ca_name,
    caFingerprint: ca_fingerprint,
    caRoot: ca_root,
    requestId: request_id,
    expiresAt: expires_at as number | null,
    state,
    error: error === null ? null : error.slice(0, MAX_TEXT_CHARS),
  };
}

export class RegistrationStore {
  readonly #db: Database;

  /** Needs REGISTRATION_MIGRATIONS applied. */
  constructor(db: Database) {
    this.#db = db;
  }

  /** The saved registration; a damaged row is dropped and reads as none. */
  load(): SavedRegistration | null {
    const row = this.#db.prepare('SELECT * FROM http_ui_ca_registration WHERE slot = ?').get(SLOT) as Row | undefined;
    if (row === undefined) return null;
    const saved = rowToRegistration(row);
    if (saved === null) this.clear();
    return saved;
  }

  save(r: SavedRegistration): void {
    this.#db
      .prepare(
        `INSERT OR REPLACE INTO http_ui_ca_registration
           (slot, key_fingerprint, email, ca_url, ca_name, ca_fingerprint, ca_root, request_id, expires_at, state, error, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(SLOT, r.keyFingerprint, r.email, r.caUrl, r.caName, r.caFingerprint, r.caRoot, r.requestId, r.expiresAt, r.state, r.error, Date.now());
  }

  clear(): void {
    this.#db.prepare('DELETE FROM http_ui_ca_registration WHERE slot = ?').run(SLOT);
  }
}
