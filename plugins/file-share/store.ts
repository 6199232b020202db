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

/**
 * Under 'batch', bytes written since the last fsync before one is forced (at least one
 * block). One fsync and one bitmap commit per batch, not per block: a crash loses at
 * most this much verified data, which is fetched again.
 */
export const BATCH_FSYNC_BYTES = 8 * 1024 * 1024;
/** Largest coalesced write: contiguous blocks written in one go (see BlockWriter). */
const MAX_WRITE_BYTES = 4 * 1024 * 1024;

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
  /** Gathered write; without it, buffers are written one by one. */
  writev?(buffers: Buffer[], position: number): Promise<{ bytesWritten: number }>;
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

interface QueuedWrite {
  index: number;
  data: Buffer;
  resolve(): void;
  reject(err: unknown): void;
  /** Later copies of the same block, settled with this one. */
  also?: QueuedWrite[];
}

/** Writes `buffers` back to back from `position`, resuming after short writes. */
async function writeFully(handle: BlockFileHandle, buffers: Buffer[], position: number): Promise<void> {
  let left = buffers;
  let pos = position;
  while (left.length > 0) {
    const { bytesWritten } = handle.writev && left.length > 1
      ? await handle.writev(left, pos)
      : await handle.write(left[0]!, 0, left[0]!.length, pos);
    if (bytesWritten <= 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
    pos += bytesWritten;
    let skip = bytesWritten;
    while (skip > 0 && left.length > 0) {
      const head = left[0]!;
      if (skip >= head.length) {
        skip -= head.length;
        left = left.slice(1);
      } else {
        left = [head.subarray(skip), ...left.slice(1)];
        skip = 0;
      }
    }
  }
}

export interface BlockWriterOptions {
  fsync?: FsyncPolicy;
  open?: OpenBlockFile;
}

/**
 * Writes verified blocks of one download into its `.part` file at their
 * offsets and records them in the store (see the ordering rule above). Blocks
 * handed over in one event-loop turn are sorted and contiguous ones written with
 * one gathered write: a thread-pool round trip per 64 KiB block cost more than the
 * copy into the page cache.
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
  #pendingBytes = 0;
  /** Blocks waiting for this turn's gathered writes. */
  #queued: QueuedWrite[] = [];
  #drain: NodeJS.Immediate | null = null;
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

  #write(index: number, data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queued.push({ index, data, resolve, reject });
      this.#drain ??= setImmediate(() => this.#drainQueued());
    });
  }

  #drainQueued(): void {
    this.#drain = null;
    const queued = this.#queued.sort((a, b) => a.index - b.index);
    this.#queued = [];
    let run: QueuedWrite[] = [];
    let bytes = 0;
    for (const q of queued) {
      const last = run[run.length - 1];
      if (last?.index === q.index) {
        // The same block twice in one turn: it settles with the first copy's write.
        (last.also ??= []).push(q);
        continue;
      }
      if (last && (q.index !== last.index + 1 || bytes + q.data.length > MAX_WRITE_BYTES)) {
        void this.#writeRun(run);
        run = [];
        bytes = 0;
      }
      run.push(q);
      bytes += q.data.length;
    }
    if (run.length > 0) void this.#writeRun(run);
  }

  /** Writes contiguous blocks at once; each block's promise settles with the run. */
  async #writeRun(run: QueuedWrite[]): Promise<void> {
    const first = run[0]!.index;
    const what = run.length === 1 ? `block ${first}` : `blocks ${first}-${first + run.length - 1}`;
    try {
      try {
        await writeFully(this.#handle, run.map((q) => q.data), first * this.meta.blockSize);
      } catch (err) {
        throw writeError(err, `writing ${what} of ${this.#partPath}`);
      }
      for (const q of run) {
        this.written.set(q.index);
        this.#pending.push(q.index);
        this.#pendingBytes += q.data.length;
      }
      if (this.#policy === 'always' || this.#policy === 'never' || this.#pendingBytes >= BATCH_FSYNC_BYTES || this.written.complete) {
        await this.flush();
      }
    } catch (err) {
      for (const q of run) for (const w of [q, ...(q.also ?? [])]) w.reject(err);
      return;
    }
    for (const q of run) for (const w of [q, ...(q.also ?? [])]) w.resolve();
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
    this.#pendingBytes = 0;
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

  /** Reads a written block, into `target` at `offset` when given (else a new buffer); returns the block's bytes. */
  async readBlock(index: number, target?: Buffer, offset = 0): Promise<Buffer> {
    const length = Math.min(this.meta.blockSize, this.meta.size - index * this.meta.blockSize);
    const out = target ?? Buffer.allocUnsafe(length);
    const { bytesRead } = await this.#handle.read(out, offset, length, index * this.meta.blockSize);
    if (bytesRead !== length) throw new FileShareError(FILE_SHARE_ERRORS.WRITE_FAILED, `short read of block ${index}`);
    return out.subarray(offset, offset + length);
  }

  /** Flushes and closes the `.part` file (pause, stop). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#drain) {
      clearImmediate(this.#drain);
      this.#drainQueued();
    }
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
