import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { hashFile } from '../../../plugins/file-share/hasher.js';
import { chooseBlockSize, decodeMetadata, fileIdOf } from '../../../plugins/file-share/metadata.js';
import { MAX_BLOCKS, MAX_FILE_SIZE, MAX_MESSAGE_SIZE, MIN_BLOCK_SIZE } from '../../../plugins/file-share/constants.js';
import { hasCode } from '../../../core/errors.js';

describe('file-share hasher', () => {
  let dir: ReturnType<typeof makeTempDir>;
  beforeEach(() => { dir = makeTempDir('fs-hash-'); });
  afterEach(() => dir.cleanup());

  it('chooses the smallest power of two >= 64 KiB that keeps the table within MAX_BLOCKS', () => {
    expect(chooseBlockSize(0)).to.equal(MIN_BLOCK_SIZE);
    expect(chooseBlockSize(1)).to.equal(MIN_BLOCK_SIZE);
    expect(chooseBlockSize(MAX_BLOCKS * MIN_BLOCK_SIZE)).to.equal(MIN_BLOCK_SIZE);
    expect(chooseBlockSize(MAX_BLOCKS * MIN_BLOCK_SIZE + 1)).to.equal(2 * MIN_BLOCK_SIZE);
    expect(chooseBlockSize(64 * 1024 * 1024)).to.equal(64 * 1024);
    expect(chooseBlockSize(1024 ** 3)).to.equal(1024 * 1024);
    for (let size = 1; size <= MAX_FILE_SIZE; size = size * 3 + 7) {
      const bs = chooseBlockSize(size);
      expect(Math.ceil(size / bs)).to.be.at.most(MAX_BLOCKS);
      if (bs > MIN_BLOCK_SIZE) expect(Math.ceil(size / (bs / 2))).to.be.greaterThan(MAX_BLOCKS);
    }
  });

  it('hashes blocks with SHA-256, the last block short, file ID over the advertisement', async () => {
    const data = randomBytes(3 * MIN_BLOCK_SIZE + 1234);
    const path = join(dir.path, 'photo.JPG');
    writeFileSync(path, data);
    const progress: number[] = [];
    const hashed = await hashFile(path, { onProgress: (p) => progress.push(p.bytesHashed) });
    const m = hashed.metadata;
    expect(m.name).to.equal('photo.JPG');
    expect(m.mimeType).to.equal('image/jpeg');
    expect(m.size).to.equal(data.length);
    expect(m.blockHashes).to.have.length(4);
    for (let i = 0; i < 4; i++) {
      const want = createHash('sha256').update(data.subarray(i * MIN_BLOCK_SIZE, (i + 1) * MIN_BLOCK_SIZE)).digest();
      expect(m.blockHashes[i]!.equals(want)).to.equal(true);
    }
    expect(hashed.fileId.equals(fileIdOf(hashed.advertisement))).to.equal(true);
    expect(decodeMetadata(hashed.advertisement)).to.deep.equal(m);
    expect(progress.at(-1)).to.equal(data.length);
  });

  it('hashes an empty file into zero blocks', async () => {
    const path = join(dir.path, 'empty');
    writeFileSync(path, '');
    const hashed = await hashFile(path);
    expect(hashed.metadata.blockHashes).to.have.length(0);
    expect(hashed.metadata.mimeType).to.equal('application/octet-stream');
  });

  it('lets the event loop run while hashing a large file', async () => {
    const path = join(dir.path, 'big.bin');
    writeFileSync(path, randomBytes(8 * 1024 * 1024));
    let turns = 0;
    let running = true;
    const spin = (): void => { if (running) { turns++; setImmediate(spin); } };
    setImmediate(spin);
    const progress: number[] = [];
    await hashFile(path, { onProgress: (p) => progress.push(p.bytesHashed) });
    running = false;
    expect(turns).to.be.greaterThan(4);
    expect(progress.length).to.be.greaterThan(4);
    expect(progress).to.deep.equal([...progress].sort((a, b) => a - b));
  });

  it('keeps the largest advertisement within one chat message', async () => {
    const path = join(dir.path, 'x'.repeat(200) + '.bin');
    writeFileSync(path, '');
    truncateSync(path, MAX_BLOCKS * MIN_BLOCK_SIZE);
    const hashed = await hashFile(path, { name: 'é'.repeat(127) + 'a' });
    expect(hashed.metadata.blockHashes).to.have.length(MAX_BLOCKS);
    expect(() => chooseBlockSize(MAX_FILE_SIZE + 1)).to.throw().with.property('code', 'ERR_FILE_SHARE_TOO_LARGE');
    expect(hashed.advertisement.length).to.be.at.most(MAX_MESSAGE_SIZE);
  });

  it('stops with ERR_FILE_SHARE_ABORTED when aborted, and refuses a folder', async () => {
    const path = join(dir.path, 'big.bin');
    writeFileSync(path, randomBytes(4 * 1024 * 1024));
    const controller = new AbortController();
    const err = await hashFile(path, { signal: controller.signal, onProgress: () => controller.abort() }).catch((e: unknown) => e);
    expect(hasCode(err, 'ERR_FILE_SHARE_ABORTED')).to.equal(true);
    const err2 = await hashFile(dir.path).catch((e: unknown) => e);
    expect(hasCode(err2, 'ERR_FILE_SHARE_NOT_A_FILE')).to.equal(true);
  });
});
