/**
 * Durable file-share state: which files this node knows (SQLite, through the
 * kernel's migrations) and the `.part` writer of a download.
 *
 * Ordering rule that makes resume safe: a block's bit reaches the database
 * only after its bytes are on disk (written, and fsynced under the 'always'
 * and 'batch' policies). A crash can lose verified-but-unsynced blocks (they
 * are fetched again) but never marks a block whose bytes are missing.
 */
import type { Database } from 'better-sqlite3';
import { promises as fsp } from 'node:fs';
import type { Migration } from '../../core/storage.js';
import { Bitfield } from './bitfield.js';
import { PLUGIN_NAME } from './constants.js';
import { FILE_SHARE_ERRORS, FileShareError } from './errors.js';
import { blockCount, type FileMetadata } from './metadata.js';
import { publishDownload } from './sanitize.js';

/** advertised: known, not fetched; active/paused: downloading; cancelled: dropped by the user; done: complete (seeding). */
export type FileState = 'advertised' | 'active' | 'paused' | 'cancelled' | 'done';

/** When to fsync a download's `.part` file before its blocks count as stored. */
export type FsyncPolicy = 'always' | 'batch' | 'never';

/** Under 'batch', blocks written since the last fsync before one is forced. */
export const BATCH_FSYNC_BLOCKS = 32;

export const FILE_SHARE_MIGRATIONS: readonly Migration[] = [
  {
    owner: PLUGIN_NAME,
    id: '001-files',
    up(db) {
      db.exec(`
        CREATE TABLE file_share_files (
          file_id BLOB PRIMARY KEY,
          advertisement BLOB NOT NULL,
          name TEXT NOT NULL,
          size INTEGER NOT NULL,
          state TEXT NOT NULL,
          origin TEXT NOT NULL,
          path TEXT,
          part_path TEXT,
          bitmap BLOB NOT NULL,
          error TEXT,
          added_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL
        );
        CREATE TABLE file_share_chats (
          file_id BLOB NOT NULL REFERENCES file_share_files(file_id) ON DELETE CASCADE,
          chat TEXT NOT NULL,
          PRIMARY KEY (file_id, chat)
        );
      `);
    },
  },
];

export interface FileRecord {
  fileId: Buffer;
  advertisement: Buffer;
  name: string;
  size: number;
  state: FileState;
  /** 'local': shared from this node's disk; 'remote': learned from an advertisement. */
  origin: 'local' | 'remote';
  /** Local share: the shared file. Download: the final path (set when it completes). */
  path: string | null;
  partPath: string | null;
  bitmap: Buffer;
  error: string | null;
}

interface Row {
  file_id: Buffer; advertisement: Buffer; name: string; size: number; state: FileState; origin: 'local' | 'remote';
  path: string | null; part_path: string | null; bitmap: Buffer; error: string | null;
}

function fromRow(r: Row): FileRecord {
  return { fileId: r.file_id, advertisement: r.advertisement, name: r.name, size: r.size, state: r.state, origin: r.origin,
    path: r.path, partPath: r.part_path, bitmap: r.bitmap, error: r.error };
}

/** The plugin's tables. Needs FILE_SHARE_MIGRATIONS applied. */
export class FileShareStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  put(record: FileRecord): void {
    const now = Date.now();
    this.#db.prepare(`INSERT INTO file_share_files
      (file_id, advertisement, name, size, state, origin, path, part_path, bitmap, error, added_at, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT(file_id) DO UPDATE SET state = excluded.state, origin = excluded.origin, path = excluded.path,
        part_path = excluded.part_path, bitmap = excluded.bitmap, error = excluded.error, updated_at = excluded.updated_at`)
      .run(record.fileId, record.advertisement, record.name, record.size, record.state, record.origin, record.path,
        record.partPath, record.bitmap, record.error, now, now);
  }

  get(fileId: Buffer): FileRecord | undefined {
    const row = this.#db.prepare('SELECT * FROM file_share_files WHERE file_id = ?').get(fileId) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  list(): FileRecord[] {
    return (this.#db.prepare('SELECT * FROM file_share_files ORDER BY added_at, name').all() as Row[]).map(fromRow);
  }

  update(fileId: Buffer, fields: Partial<Pick<FileRecord, 'state' | 'path' | 'partPath' | 'bitmap' | 'error'>>): void {
    const current = this.get(fileId);
    if (!current) throw new FileShareError(FILE_SHARE_ERRORS.UNKNOWN_FILE, `file ${fileId.toString('hex')} is not known`);
    this.put({ ...current, ...fields });
  }

  saveBitmap(fileId: Buffer, bitmap: Buffer): void {
    this.#db.prepare('UPDATE file_share_files SET bitmap = ?, updated_at = ? WHERE file_id = ?').run(bitmap, Date.now(), fileId);
  }

  addChat(fileId: Buffer, chat: string): void {
    this.#db.prepare('INSERT OR IGNORE INTO file_share_chats (file_id, chat) VALUES (?, ?)').run(fileId, chat);
  }

  chatsOf(fileId: Buffer): string[] {
    return (this.#db.prepare('SELECT chat FROM file_share_chats WHERE file_id = ? ORDER BY chat').all(fileId) as Array<{ chat: string }>).map((r) => r.chat);
  }

  remove(fileId: Buffer): void {
    this.#db.prepare('DELETE FROM file_share_files WHERE file_id = ?').run(fileId);
  }
}

/** The parts of a file handle the writer uses; node's FileHandle fits, tests wrap it to fail on purpose. */
export interface BlockFileHandle {
  write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  datasync(): Promise<void>;
  close(): Promise<void>;
}

export type OpenBlockFile = (path: string, flags: string) => Promise<BlockFileHandle>;

const openNodeFile: OpenBlockFile = (path, flags) => fsp.open(path, flags);

function writeError(err: unknown, what: string): FileShareError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new FileShareError(FILE_SHARE_ERRORS.DISK_FULL, `disk full while ${what}: the download is paused, free space and resume`, { cause: err });
  }
  return new FileShareError(FILE_SHARE_ERRORS.WRITE_FAILED, `${what} failed: ${(err as Error).message}`, { cause: err });
}

export interface BlockWriterOptions {
  fsync?: FsyncPolicy;
  open?: OpenBlockFile;
}

/**
 * Writes verified blocks of one download into its `.part` file at their
 * offsets and records them in the store (see the ordering rule above).
 */
export class BlockWriter {
  readonly meta: FileMetadata;
  /** Blocks whose bytes are written (servable); a superset of what the store holds. */
  readonly written: Bitfield;
  readonly #store: FileShareStore;
  readonly #fileId: Buffer;
  readonly #partPath: string;
  readonly #handle: BlockFileHandle;
  readonly #policy: FsyncPolicy;
  /** Bits that are durable (what the store holds). */
  readonly #durable: Bitfield;
  #pending: number[] = [];
  #flushing: Promise<void> = Promise.resolve();
  #closed = false;
  /** Writes under way: close() lets them land and records them before the handle goes. */
  readonly #writes = new Set<Promise<void>>();

  private constructor(store: FileShareStore, fileId: Buffer, meta: FileMetadata, partPath: string, handle: BlockFileHandle, bitmap: Buffer, policy: FsyncPolicy) {
    this.#store = store;
    this.#fileId = fileId;
    this.meta = meta;
    this.#partPath = partPath;
    this.#handle = handle;
    this.#policy = policy;
    const n = blockCount(meta.size, meta.blockSize);
    this.written = new Bitfield(n, bitmap);
    this.#durable = new Bitfield(n, bitmap);
  }

  static async open(store: FileShareStore, fileId: Buffer, meta: FileMetadata, partPath: string, bitmap: Buffer, options: BlockWriterOptions = {}): Promise<BlockWriter> {
    const open = options.open ?? openNodeFile;
    let handle: BlockFileHandle;
    try {
      // 'r+' keeps what earlier runs wrote; the file was created by reserveDownloadPath.
      handle = await open(partPath, 'r+');
    } catch (err) {
      throw writeError(err, `opening ${partPath}`);
    }
    return new BlockWriter(store, fileId, meta, partPath, handle, bitmap, options.fsync ?? 'batch');
  }

  get partPath(): string {
    return this.#partPath;
  }

  /** Writes a verified block. Throws ERR_FILE_SHARE_DISK_FULL / WRITE_FAILED; the block is then not recorded. */
  async writeBlock(index: number, data: Buffer): Promise<void> {
    if (this.#closed) throw new FileShareError(FILE_SHARE_ERRORS.BAD_STATE, 'download is closed');
    if (this.written.has(index)) return;
    const write = this.#write(index, data);
    this.#writes.add(write);
    try {
      await write;
    } finally {
      this.#writes.delete(write);
    }
  }

  async #write(index: number, data: Buffer): Promise<void> {
    const position = index * this.meta.blockSize;
    try {
      let off = 0;
      while (off < data.length) {
        const { bytesWritten } = await this.#handle.write(data, off, data.length - off, position + off);
        if (bytesWritten <= 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
        off += bytesWritten;
      }
    } catch (err) {
      throw writeError(err, `writing block ${index} of ${this.#partPath}`);
    }
    this.written.set(index);
    this.#pending.push(index);
    if (this.#policy === 'always' || this.#policy === 'never' || this.#pending.length >= BATCH_FSYNC_BLOCKS || this.written.complete) {
      await this.flush();
    }
  }

  /** Makes written blocks durable (per policy) and records them; serialised. */
  flush(): Promise<void> {
    const run = this.#flushing.then(() => this.#flushNow());
    // A failed flush must not poison the next one; the caller still sees the error.
    this.#flushing = run.catch(() => undefined);
    return run;
  }

  async #flushNow(): Promise<void> {
    if (this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    if (this.#policy !== 'never') {
      try {
        await this.#handle.datasync();
      } catch (err) {
        // Unsynced bytes cannot be trusted: forget them so they are fetched again.
        for (const i of batch) this.written.clear(i);
        throw writeError(err, `syncing ${this.#partPath}`);
      }
    }
    for (const i of batch) this.#durable.set(i);
    this.#store.saveBitmap(this.#fileId, this.#durable.bytes);
  }

  async readBlock(index: number): Promise<Buffer> {
    const length = Math.min(this.meta.blockSize, this.meta.size - index * this.meta.blockSize);
    const out = Buffer.allocUnsafe(length);
    const { bytesRead } = await this.#handle.read(out, 0, length, index * this.meta.blockSize);
    if (bytesRead !== length) throw new FileShareError(FILE_SHARE_ERRORS.WRITE_FAILED, `short read of block ${index}`);
    return out;
  }

  /** Flushes and closes the `.part` file (pause, stop). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([...this.#writes]);
    try {
      await this.flush();
    } finally {
      await this.#handle.close();
    }
  }

  /** After the last block: sync, close, move to a free final name (never overwriting), restore mtime. */
  async finish(finalPath: string): Promise<string> {
    await this.close();
    try {
      const published = await publishDownload(this.#partPath, finalPath);
      await fsp.utimes(published, this.meta.mtime, this.meta.mtime);
      return published;
    } catch (err) {
      if (err instanceof FileShareError) throw err;
      throw writeError(err, `publishing ${this.#partPath}`);
    }
  }
}
