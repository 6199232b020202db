import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import type { Migration } from '../../../core/storage.js';
import { CHAT_MIGRATIONS } from '../../../core/chat/history-migrations.js';

/**
 * Until the kernel's Storage service is in main: open a real SQLite file the way it
 * will (WAL, explicit synchronous, foreign keys) and apply migrations in a transaction.
 */
export function openTestDatabase(options: { synchronous?: 'NORMAL' | 'FULL' | 'OFF'; migrations?: readonly Migration[] } = {}): {
  db: Db;
  dir: string;
  path: string;
  close(): void;
} {
  const dir = mkdtempSync(join(tmpdir(), 'bitchat-chat-'));
  const path = join(dir, 'node.db');
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${options.synchronous ?? 'NORMAL'}`);
  db.pragma('foreign_keys = ON');
  db.exec('CREATE TABLE IF NOT EXISTS schema_migration (owner TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (owner, id))');
  const done = db.prepare('SELECT 1 FROM schema_migration WHERE owner = ? AND id = ?');
  const mark = db.prepare('INSERT INTO schema_migration (owner, id) VALUES (?, ?)');
  for (const m of options.migrations ?? CHAT_MIGRATIONS) {
    if (done.get(m.owner, m.id)) continue;
    db.transaction(() => {
      m.up(db);
      mark.run(m.owner, m.id);
    })();
  }
  return {
    db,
    dir,
    path,
    close(): void {
      if (db.open) db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
