import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { CHAT_MIGRATIONS } from '../../../core/chat/history-migrations.js';
import { Storage } from '../../../core/storage.js';

/**
 * A real database file in a temp folder, opened by the kernel's Storage service (WAL,
 * synchronous = NORMAL, foreign keys, exclusive lock) with core's chat migrations applied.
 */
export function openTestDatabase(): { db: Database; storage: Storage; dir: string; path: string; close(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'bitchat-chat-'));
  const storage = new Storage(join(dir, 'bitchat.db'));
  storage.open();
  storage.migrate(CHAT_MIGRATIONS);
  return {
    db: storage.db,
    storage,
    dir,
    path: storage.path,
    close(): void {
      storage.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
