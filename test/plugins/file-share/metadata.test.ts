import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { BitChatError } from '../../../core/errors.js';
import { FileShareError } from '../../../plugins/file-share/errors.js';
import { MAX_BLOCKS, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE } from '../../../plugins/file-share/constants.js';
import { decodeMetadata, encodeMetadata, fileIdOf, type FileMetadata } from '../../../plugins/file-share/metadata.js';

function sample(blocks = 3, over: Partial<FileMetadata> = {}): FileMetadata {
  return {
    name: 'report.pdf',
    mimeType: 'application/pdf',
    mtime: 1_700_000_000,
    size: (blocks - 1) * MIN_BLOCK_SIZE + 10,
    blockSize: MIN_BLOCK_SIZE,
    blockHashes: Array.from({ length: blocks }, () => randomBytes(32)),
    ...over,
  };
}

/** Hand-built advertisement bytes, to smuggle values the encoder refuses. */
function raw(m: { name: Buffer; mime?: string; mtime?: bigint; size: bigint; blockSize: number; algo?: number; hashes: number; version?: number }): Buffer {
  const head = Buffer.alloc(8 + 8 + 4 + 1);
  head.writeBigInt64LE(m.mtime ?? 0n, 0);
  head.writeBigUInt64LE(m.size, 8);
  head.writeUInt32LE(m.blockSize, 16);
  head.writeUInt8(m.algo ?? 1, 20);
  const mime = Buffer.from(m.mime ?? '', 'latin1');
  return Buffer.concat([
    Buffer.from([m.version ?? 2, m.name.length]), m.name, Buffer.from([mime.length]), mime, head, Buffer.alloc(32 * m.hashes),
  ]);
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(FileShareError);
    return (err as BitChatError).code;
  }
  return undefined;
}

describe('file-share advertisement codec', () => {
  it('round-trips and gives a stable file ID', () => {
    const m = sample(5);
    const enc = encodeMetadata(m);
    expect(decodeMetadata(enc)).to.deep.equal(m);
    expect(fileIdOf(enc).equals(fileIdOf(encodeMetadata(decodeMetadata(enc))))).to.equal(true);
    expect(fileIdOf(encodeMetadata({ ...m, name: 'other.pdf' })).equals(fileIdOf(enc))).to.equal(false);
  });

  it('matches the documented test vector', () => {
    const m: FileMetadata = { name: 'a.txt', mimeType: 'text/plain', mtime: 1_600_000_000, size: 3, blockSize: MIN_BLOCK_SIZE,
      blockHashes: [Buffer.from('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 'hex')] };
    const enc = encodeMetadata(m);
    expect(enc.toString('hex')).to.equal(
      '0205612e7478740a746578742f706c61696e' + '00105e5f00000000' + '0300000000000000' + '00000100' + '01' +
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(fileIdOf(enc).toString('hex')).to.equal('4e9077010470e477341e9f3882764bb0c367f7bac2fa11ffe5d264725d05f7ac');
  });

  it('refuses hostile advertisements with typed errors', () => {
    const cases: Array<[string, Buffer, string]> = [
      ['path separator', raw({ name: Buffer.from('../../etc/passwd'), size: 1n, blockSize: MIN_BLOCK_SIZE, hashes: 1 }), 'ERR_FILE_SHARE_BAD_NAME'],
      ['backslash', raw({ name: Buffer.from('..\\..\\boot.ini'), size: 1n, blockSize: MIN_BLOCK_SIZE, hashes: 1 }), 'ERR_FILE_SHARE_BAD_NAME'],
      ['dot-dot', raw({ name: Buffer.from('..'), size: 1n, blockSize: MIN_BLOCK_SIZE, hashes: 1 }), 'ERR_FILE_SHARE_BAD_NAME'],
      ['NUL', raw({ name: Buffer.from('a\u0000.exe'), size: 1n, blockSize: MIN_BLOCK_SIZE, hashes: 1 }), 'ERR_FILE_SHARE_BAD_NAME'],
      ['bidi override', raw({ name: Buffer.from('gpj.\u202eexe'), size: 1n, blockSize: MIN_BLOCK_SIZE, hashes: 1 }), 'ERR_FILE_SHARE_BAD_NAME'],
      ['empty name', raw({ name: Buffer.alloc(0), size: 1n, blockSize: MIN_BLOCK_SIZE, hashes: 1 }), 'ERR_FILE_SHARE_BAD_NAME'],
      ['bad UTF-8', raw({ name: Buffer.from([0xc3, 0x28]), size: 1n, blockSize: MIN_BLOCK_SIZE, hashes: 1 }), 'ERR_FILE_SHARE_BAD_NAME'],
      ['absurd size', raw({ name: Buffer.from('a'), size: 2n ** 63n, blockSize: MIN_BLOCK_SIZE, hashes: 1 }), 'ERR_FILE_SHARE_TOO_LARGE'],
      ['huge table', raw({ name: Buffer.from('a'), size: BigInt((MAX_BLOCKS + 1) * MIN_BLOCK_SIZE), blockSize: MIN_BLOCK_SIZE, hashes: MAX_BLOCKS + 1 }), 'ERR_FILE_SHARE_BAD_BLOCK_TABLE'],
      ['table too short', raw({ name: Buffer.from('a'), size: BigInt(5 * MIN_BLOCK_SIZE), blockSize: MIN_BLOCK_SIZE, hashes: 4 }), 'ERR_FILE_SHARE_BAD_BLOCK_TABLE'],
      ['block size not power of two', raw({ name: Buffer.from('a'), size: 100n, blockSize: MIN_BLOCK_SIZE + 16, hashes: 1 }), 'ERR_FILE_SHARE_BAD_BLOCK_TABLE'],
      ['block size too big', raw({ name: Buffer.from('a'), size: 100n, blockSize: MAX_BLOCK_SIZE * 2, hashes: 1 }), 'ERR_FILE_SHARE_BAD_BLOCK_TABLE'],
      ['unknown algorithm', raw({ name: Buffer.from('a'), size: 1n, blockSize: MIN_BLOCK_SIZE, algo: 2, hashes: 1 }), 'ERR_FILE_SHARE_BAD_ADVERTISEMENT'],
      ['unknown version', raw({ name: Buffer.from('a'), size: 1n, blockSize: MIN_BLOCK_SIZE, version: 1, hashes: 1 }), 'ERR_FILE_SHARE_BAD_ADVERTISEMENT'],
      ['binary MIME', raw({ name: Buffer.from('a'), mime: 'text/\u0001', size: 1n, blockSize: MIN_BLOCK_SIZE, hashes: 1 }), 'ERR_FILE_SHARE_BAD_ADVERTISEMENT'],
      ['over one message', Buffer.alloc(70_000, 2), 'ERR_FILE_SHARE_TOO_LARGE'],
    ];
    for (const [what, buf, code] of cases) expect(codeOf(() => decodeMetadata(buf)), what).to.equal(code);
    const ok = raw({ name: Buffer.from('a'), size: BigInt(10 * MIN_BLOCK_SIZE), blockSize: MIN_BLOCK_SIZE, hashes: 10 });
    expect(codeOf(() => decodeMetadata(ok, { maxFileSize: MIN_BLOCK_SIZE }))).to.equal('ERR_FILE_SHARE_TOO_LARGE');
    expect(codeOf(() => decodeMetadata(ok))).to.equal(undefined);
  });

  it('survives truncation, bit flips and random bytes with typed errors only (fuzz)', () => {
    const enc = encodeMetadata(sample(4));
    for (let cut = 0; cut < enc.length; cut++) expect(codeOf(() => decodeMetadata(enc.subarray(0, cut)))).to.be.a('string');
    for (let i = 0; i < 3000; i++) {
      const t = Buffer.from(enc);
      const flips = 1 + (i % 4);
      for (let f = 0; f < flips; f++) t[(i * 7919 + f * 104_729) % t.length] ^= 1 << ((i + f) % 8);
      codeOf(() => decodeMetadata(t));
      const junk = randomBytes(i % 600);
      if (junk.length > 0) junk[0] = 2;
      codeOf(() => decodeMetadata(junk));
    }
  });
});
