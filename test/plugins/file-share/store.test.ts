import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, promises as fsp, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Storage } from '../../../core/storage.js';
import { hasCode } from '../../../core/errors.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { Bitfield } from '../../../plugins/file-share/bitfield.js';
import { MIN_BLOCK_SIZE } from '../../../plugins/file-share/constants.js';
import { hashFile } from '../../../plugins/file-share/hasher.js';
import { reserveDownloadPath } from '../../../plugins/file-share/sanitize.js';
import { BlockWriter, FILE_SHARE_MIGRATIONS, FileShareStore, type OpenBlockFile } from '../../../plugins/file-share/store.js';
import type { HashedFile } from '../../../plugins/file-share/hasher.js';

const BLOCKS = 6;

describe('file-share store', () => {
  let dir: ReturnType<typeof makeTempDir>;
  let storage: Storage;
  let store: FileShareStore;
  let data: Buffer;
  let hashed: HashedFile;

  beforeEach(async () => {
    dir = makeTempDir('fs-store-');
    storage = new Storage(join(dir.path, 'db', 'bitchat.db'));
    storage.open();
    expect(storage.migrate(FILE_SHARE_MIGRATIONS)).to.deep.equal(['file-share/001-files']);
    store = new FileShareStore(storage.db);
    data = randomBytes(BLOCKS * MIN_BLOCK_SIZE - 100);
    writeFileSync(join(dir.path, 'src.bin'), data);
    hashed = await hashFile(join(dir.path, 'src.bin'));
  });
  afterEach(() => {
    storage.close();
    dir.cleanup();
  });

  function remember(partPath: string): void {
    store.put({ fileId: hashed.fileId, advertisement: hashed.advertisement, name: 'src.bin', size: data.length, state: 'active',
      origin: 'remote', path: null, partPath, bitmap: Buffer.alloc(1), error: null });
  }
  const block = (i: number): Buffer => data.subarray(i * MIN_BLOCK_SIZE, (i + 1) * MIN_BLOCK_SIZE);

  it('records verified blocks, survives a reopen, and publishes the finished file with its mtime', async () => {
    const downloads = join(dir.path, 'dl');
    const reserved = await reserveDownloadPath(downloads, 'src.bin');
    remember(reserved.partPath);
    store.addChat(hashed.fileId, 'chat-a');
    let w = await BlockWriter.open(store, hashed.fileId, hashed.metadata, reserved.partPath, Buffer.alloc(1), { fsync: 'always' });
    await w.writeBlock(4, block(4));
    await w.writeBlock(1, block(1));
    await w.close();
    const bits = new Bitfield(BLOCKS, store.get(hashed.fileId)!.bitmap);
    expect([...Array(BLOCKS).keys()].filter((i) => bits.has(i))).to.deep.equal([1, 4]);
    storage.close();
    storage = new Storage(join(dir.path, 'db', 'bitchat.db'));
    storage.open();
    expect(storage.migrate(FILE_SHARE_MIGRATIONS)).to.deep.equal([]);
    store = new FileShareStore(storage.db);
    expect(store.chatsOf(hashed.fileId)).to.deep.equal(['chat-a']);
    w = await BlockWriter.open(store, hashed.fileId, hashed.metadata, reserved.partPath, store.get(hashed.fileId)!.bitmap, { fsync: 'batch' });
    expect(w.written.count).to.equal(2);
    expect((await w.readBlock(4)).equals(block(4))).to.equal(true);
    for (const i of [0, 2, 3, 5]) await w.writeBlock(i, block(i));
    writeFileSync(reserved.finalPath, 'squatter');
    const final = await w.finish(reserved.finalPath);
    expect(final).to.not.equal(reserved.finalPath);
    expect(readFileSync(final).equals(data)).to.equal(true);
    expect(readFileSync(reserved.finalPath, 'utf8')).to.equal('squatter');
    expect(Math.floor(statSync(final).mtimeMs / 1000)).to.equal(hashed.metadata.mtime);
    store.update(hashed.fileId, { state: 'done', path: final, partPath: null });
    expect(store.list().map((r) => r.state)).to.deep.equal(['done']);
  });

  it('writes the blocks of one turn with one gathered write per contiguous run, and records none of a run that fails', async () => {
    const reserved = await reserveDownloadPath(join(dir.path, 'dl'), 'src.bin');
    remember(reserved.partPath);
    const runs: number[][] = [];
    let failAt: number | null = null;
    const open: OpenBlockFile = async (path, flags) => {
      const h = await fsp.open(path, flags);
      return {
        write: (buf, off, len, pos) => h.write(buf, off, len, pos),
        writev: async (buffers, pos) => {
          runs.push(buffers.map((b) => b.length));
          if (failAt !== null && pos === failAt * MIN_BLOCK_SIZE) throw Object.assign(new Error('I/O error'), { code: 'EIO' });
          return h.writev(buffers, pos);
        },
        read: (buf, off, len, pos) => h.read(buf, off, len, pos),
        datasync: () => h.datasync(),
        close: () => h.close(),
      };
    };
    const w = await BlockWriter.open(store, hashed.fileId, hashed.metadata, reserved.partPath, Buffer.alloc(1), { fsync: 'batch', open });
    // Blocks 0, 1, 2 and 5 arrive in one turn (in any order): runs 0-2 and 5 (alone: a plain write).
    await Promise.all([2, 0, 5, 1].map((i) => w.writeBlock(i, block(i))));
    expect(runs).to.deep.equal([[MIN_BLOCK_SIZE, MIN_BLOCK_SIZE, MIN_BLOCK_SIZE]]);
    expect([...Array(BLOCKS).keys()].filter((i) => w.written.has(i))).to.deep.equal([0, 1, 2, 5]);
    // A run whose write fails: both its blocks fail, neither is recorded.
    failAt = 3;
    const results = await Promise.allSettled([4, 3].map((i) => w.writeBlock(i, block(i))));
    expect(results.map((r) => r.status)).to.deep.equal(['rejected', 'rejected']);
    expect(hasCode((results[0] as PromiseRejectedResult).reason, 'ERR_FILE_SHARE_WRITE_FAILED')).to.equal(true);
    expect(runs).to.have.length(2);
    expect(w.written.has(3) || w.written.has(4)).to.equal(false);
    await w.close();
    const bits = new Bitfield(BLOCKS, store.get(hashed.fileId)!.bitmap);
    expect([...Array(BLOCKS).keys()].filter((i) => bits.has(i))).to.deep.equal([0, 1, 2, 5]);
    const part = readFileSync(reserved.partPath);
    for (const i of [0, 1, 2, 5]) expect(part.subarray(i * MIN_BLOCK_SIZE, (i + 1) * MIN_BLOCK_SIZE).equals(block(i))).to.equal(true);
  });

  it('turns ENOSPC from the file system layer into ERR_FILE_SHARE_DISK_FULL without recording the block', async () => {
    const reserved = await reserveDownloadPath(join(dir.path, 'dl'), 'src.bin');
    remember(reserved.partPath);
    let budget = 2 * MIN_BLOCK_SIZE + 1000;
    const open: OpenBlockFile = async (path, flags) => {
      const h = await fsp.open(path, flags);
      return {
        write: async (buf, off, len, pos) => {
          // Like a real full disk: part of the block lands, then ENOSPC.
          const n = Math.min(len, budget);
          budget -= n;
          if (n === 0) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
          return h.write(buf, off, n, pos);
        },
        read: (buf, off, len, pos) => h.read(buf, off, len, pos),
        datasync: () => h.datasync(),
        close: () => h.close(),
      };
    };
    const w = await BlockWriter.open(store, hashed.fileId, hashed.metadata, reserved.partPath, Buffer.alloc(1), { fsync: 'always', open });
    await w.writeBlock(0, block(0));
    await w.writeBlock(1, block(1));
    const err = await w.writeBlock(2, block(2)).catch((e: unknown) => e);
    expect(hasCode(err, 'ERR_FILE_SHARE_DISK_FULL')).to.equal(true);
    expect(w.written.has(2)).to.equal(false);
    await w.close();
    const bits = new Bitfield(BLOCKS, store.get(hashed.fileId)!.bitmap);
    expect(bits.count).to.equal(2);
    const part = readFileSync(reserved.partPath);
    for (const i of [0, 1]) {
      expect(createHash('sha256').update(part.subarray(i * MIN_BLOCK_SIZE, (i + 1) * MIN_BLOCK_SIZE)).digest().equals(hashed.metadata.blockHashes[i]!)).to.equal(true);
    }
  });

  it('handles a really full file system (tiny tmpfs) with a typed error and a consistent bitmap', async function () {
    const mnt = join(dir.path, 'tiny');
    mkdirSync(mnt);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=200k', 'tmpfs', mnt], { stdio: 'ignore' });
    } catch {
      rmdirSync(mnt);
      this.skip();
    }
    try {
      const reserved = await reserveDownloadPath(mnt, 'src.bin');
      remember(reserved.partPath);
      const w = await BlockWriter.open(store, hashed.fileId, hashed.metadata, reserved.partPath, Buffer.alloc(1), { fsync: 'always' });
      let failure: unknown;
      for (let i = 0; i < BLOCKS && !failure; i++) await w.writeBlock(i, block(i)).catch((e: unknown) => { failure = e; });
      expect(hasCode(failure, 'ERR_FILE_SHARE_DISK_FULL')).to.equal(true);
      await w.close();
      const bits = new Bitfield(BLOCKS, store.get(hashed.fileId)!.bitmap);
      expect(bits.count).to.be.greaterThan(0).and.lessThan(BLOCKS);
      const part = readFileSync(reserved.partPath);
      for (let i = 0; i < BLOCKS; i++) {
        if (!bits.has(i)) continue;
        expect(part.subarray(i * MIN_BLOCK_SIZE, (i + 1) * MIN_BLOCK_SIZE).equals(block(i))).to.equal(true);
      }
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});
