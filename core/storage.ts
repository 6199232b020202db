import BetterSqlite3, { type Database } from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { StorageError } from './errors.js';

/** One schema step; `up` runs inside a transaction and is applied once per database. */
export interface Migration {
  /** Who owns it: 'core' or the plugin's name. */
  owner: string;
  /** Unique within the owner, applied in registration order, e.g. '001-messages'. */
  id: string;
  up(db: Database): void;
}

/** Handed to `hooks.migrations`: core and plugins add their schema steps. */
export interface MigrationRegistry {
  add(migration: Migration): void;
}

export const DATABASE_FILE_NAME = 'bitchat.db';

/** How long a statement waits for a lock held by another connection before giving up. */
const BUSY_TIMEOUT_MS = 2_000;

const SQLITE_LOCKED_CODES = new Set(['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_BUSY_SNAPSHOT']);
const SQLITE_CORRUPT_CODES = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_CORRUPT_VTAB']);

/**
 * The node's SQLite database: one file in the data folder, WAL, and an
 * exclusive lock held for the node's lifetime so that two nodes never share
 * one profile's state (the second gets ERR_STORAGE_LOCKED, not silent races).
 */
export class Storage {
  readonly path: string;
  #db: Database | null = null;

  constructor(path: string) {
    this.path = path;
  }

  /** The open database; throws if `open()` has not run. */
  get db(): Database {
    if (!this.#db) throw new StorageError('ERR_STORAGE_CLOSED', `database ${this.path} is not open`);
    return this.#db;
  }

  get isOpen(): boolean {
    return this.#db !== null;
  }

  open(): void {
    if (this.#db) return;
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    let db: Database | undefined;
    try {
      db = new BetterSqlite3(this.path, { timeout: BUSY_TIMEOUT_MS });
      db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('journal_mode = WAL');
      // NORMAL is durable across process crashes in WAL mode; FULL costs ~35x per commit.
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      // Take the exclusive lock now rather than at the first write.
      db.exec('BEGIN IMMEDIATE; COMMIT');
      db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
        owner TEXT NOT NULL,
        id TEXT NOT NULL,
        applied_at INTEGER NOT NULL,
        PRIMARY KEY (owner, id)
      )`);
      this.#db = db;
    } catch (err) {
      db?.close();
      throw this.#translate(err, 'open');
    }
  }

  /** Applies, in order, each migration not applied before, each in its own transaction. */
  migrate(migrations: readonly Migration[]): string[] {
    const db = this.db;
    const applied = new Set(
      db.prepare('SELECT owner, id FROM schema_migrations').all().map((row) => {
        const { owner, id } = row as { owner: string; id: string };
        return `${owner}/${id}`;
      }),
    );
    const record = db.prepare('INSERT INTO schema_migrations (owner, id, applied_at) VALUES (?, ?, ?)');
    const done: string[] = [];
    for (const migration of migrations) {
      const key = `${migration.owner}/${migration.id}`;
      if (applied.has(key)) continue;
      try {
        db.transaction(() => {
          migration.up(db);
          record.run(migration.owner, migration.id, Date.now());
        })();
      } catch (err) {
        if (err instanceof StorageError) throw err;
        throw new StorageError('ERR_STORAGE_MIGRATION_FAILED', `migration ${key} failed: ${(err as Error).message}`, { cause: err });
      }
      applied.add(key);
      done.push(key);
    }
    return done;
  }

  close(): void {
    const db = this.#db;
    this.#db = null;
    db?.close();
  }

  #translate(err: unknown, action: string): Error {
    const code = (err as { code?: string }).code ?? '';
    if (SQLITE_LOCKED_CODES.has(code)) {
      return new StorageError(
        'ERR_STORAGE_LOCKED',
        `database ${this.path} is locked: another bitchat node is using this data folder`,
        { cause: err },
      );
    }
    if (SQLITE_CORRUPT_CODES.has(code)) {
      return new StorageError(
        'ERR_STORAGE_CORRUPT',
        `database ${this.path} is damaged or not a bitchat database; move it aside to start fresh`,
        { cause: err },
      );
    }
    return new StorageError('ERR_STORAGE_FAILED', `cannot ${action} database ${this.path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Collects migrations from core and plugins in registration order, rejecting duplicates. */
export class MigrationList implements MigrationRegistry {
  readonly #migrations: Migration[] = [];

  add(migration: Migration): void {
    if (this.#migrations.some((m) => m.owner === migration.owner && m.id === migration.id)) {
      throw new StorageError('ERR_STORAGE_MIGRATION_DUPLICATE', `migration ${migration.owner}/${migration.id} is registered twice`);
    }
    this.#migrations.push(migration);
  }

  get all(): readonly Migration[] {
    return this.#migrations;
  }
}
