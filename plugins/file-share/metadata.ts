/**
 * The file advertisement ("SharedFileMetaData", our version 2): pure codec,
 * caps, and the hostile-advertisement check. All integers little-endian.
 *
 * | off | size   | field                                              |
 * | --- | ------ | -------------------------------------------------- |
 * | 0   | 1      | version, `2`                                       |
 * | 1   | 1 + n  | file name: u8 n ‖ UTF-8, 1..255 bytes, no path     |
 * |     | 1 + m  | MIME type: u8 m ‖ ASCII, 0..127 bytes              |
 * |     | 8      | mtime, i64 seconds since 1970 (UTC)                |
 * |     | 8      | file size, u64 (<= MAX_FILE_SIZE)                  |
 * |     | 4      | block size, u32, a power of two in [64 KiB, 64 MiB]|
 * |     | 1      | hash algorithm, `1` = SHA-256                      |
 * |     | 32 × B | block hashes, B = ceil(size / blockSize) <= 1984   |
 *
 * Nothing follows the table. File ID = SHA-256 of the whole encoding, so an
 * advertisement authenticates itself: a receiver recomputes the ID.
 */
import { createHash } from 'node:crypto';
import {
  HASH_ALGORITHM,
  HASH_ALGORITHM_ID,
  HASH_LENGTH,
  MAX_BLOCKS,
  MAX_BLOCK_SIZE,
  MAX_FILE_SIZE,
  MAX_MESSAGE_SIZE,
  MAX_MIME_BYTES,
  MAX_NAME_BYTES,
  METADATA_VERSION,
  MIN_BLOCK_SIZE,
} from './constants.js';
import { FILE_SHARE_ERRORS, FileShareError } from './errors.js';

/** What an advertisement says about a file. */
export interface FileMetadata {
  name: string;
  mimeType: string;
  /** Seconds since 1970. */
  mtime: number;
  size: number;
  blockSize: number;
  /** One SHA-256 digest per block, in order. */
  blockHashes: Buffer[];
}

/** Limits applied on top of the absolute caps (from the plugin's options). */
export interface AdvertisementLimits {
  /** Largest file accepted, bytes. @default MAX_FILE_SIZE */
  maxFileSize?: number;
}

const FIXED_BYTES = 1 + 1 + 1 + 8 + 8 + 4 + 1;
const UTF8 = new TextDecoder('utf-8', { fatal: true });
// Bidirectional overrides and other format characters make a name display unlike its bytes.
const FORBIDDEN_NAME_CHARS = /[\u0000-\u001f\u007f-\u009f/\\\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

/**
 * The rule: the smallest power of two >= MIN_BLOCK_SIZE that keeps the table at
 * MAX_BLOCKS entries or fewer. Deterministic, so every node hashing the same file
 * gets the same ID.
 */
export function chooseBlockSize(size: number): number {
  if (!Number.isSafeInteger(size) || size < 0) throw new FileShareError(FILE_SHARE_ERRORS.TOO_LARGE, `bad file size ${size}`);
  if (size > MAX_FILE_SIZE) throw new FileShareError(FILE_SHARE_ERRORS.TOO_LARGE, `file of ${size} bytes exceeds the ${MAX_FILE_SIZE}-byte limit`);
  let blockSize = MIN_BLOCK_SIZE;
  while (Math.ceil(size / blockSize) > MAX_BLOCKS) blockSize *= 2;
  return blockSize;
}

export function blockCount(size: number, blockSize: number): number {
  return Math.ceil(size / blockSize);
}

/** Length of block `index` (the last one is shorter). */
export function blockLength(meta: Pick<FileMetadata, 'size' | 'blockSize'>, index: number): number {
  const start = index * meta.blockSize;
  return Math.max(0, Math.min(meta.blockSize, meta.size - start));
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

function bad(code: keyof typeof FILE_SHARE_ERRORS, message: string): FileShareError {
  return new FileShareError(FILE_SHARE_ERRORS[code], message);
}

/** Throws a typed error for names that are empty, too long, or carry path tricks or control characters. */
export function checkAdvertisedName(name: string): void {
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes === 0 || bytes > MAX_NAME_BYTES) throw bad('BAD_NAME', `file name of ${bytes} bytes (1..${MAX_NAME_BYTES})`);
  if (FORBIDDEN_NAME_CHARS.test(name)) throw bad('BAD_NAME', 'file name has a path separator or control character');
  if (name === '.' || name === '..') throw bad('BAD_NAME', 'file name is a relative path');
}

/** The hostile-advertisement check: every field inside its cap and consistent with the others. */
export function checkMetadata(meta: FileMetadata, limits: AdvertisementLimits = {}): void {
  checkAdvertisedName(meta.name);
  if (Buffer.byteLength(meta.mimeType, 'utf8') > MAX_MIME_BYTES || !/^[\x21-\x7e]*$/.test(meta.mimeType)) {
    throw bad('BAD_ADVERTISEMENT', 'MIME type is too long or not printable ASCII');
  }
  if (!Number.isSafeInteger(meta.mtime)) throw bad('BAD_ADVERTISEMENT', 'mtime is out of range');
  const maxSize = Math.min(limits.maxFileSize ?? MAX_FILE_SIZE, MAX_FILE_SIZE);
  if (!Number.isSafeInteger(meta.size) || meta.size < 0) throw bad('BAD_ADVERTISEMENT', 'file size is out of range');
  if (meta.size > maxSize) throw bad('TOO_LARGE', `file of ${meta.size} bytes exceeds the ${maxSize}-byte limit`);
  if (!isPowerOfTwo(meta.blockSize) || meta.blockSize < MIN_BLOCK_SIZE || meta.blockSize > MAX_BLOCK_SIZE) {
    throw bad('BAD_BLOCK_TABLE', `block size ${meta.blockSize} is not a power of two in [${MIN_BLOCK_SIZE}, ${MAX_BLOCK_SIZE}]`);
  }
  const expected = blockCount(meta.size, meta.blockSize);
  if (expected > MAX_BLOCKS) throw bad('BAD_BLOCK_TABLE', `${expected} blocks exceed the ${MAX_BLOCKS}-block cap`);
  if (meta.blockHashes.length !== expected) {
    throw bad('BAD_BLOCK_TABLE', `${meta.blockHashes.length} block hashes for ${expected} blocks`);
  }
  for (const hash of meta.blockHashes) {
    if (hash.length !== HASH_LENGTH) throw bad('BAD_BLOCK_TABLE', 'block hash of the wrong length');
  }
}

export function encodeMetadata(meta: FileMetadata): Buffer {
  checkMetadata(meta);
  const name = Buffer.from(meta.name, 'utf8');
  const mime = Buffer.from(meta.mimeType, 'ascii');
  const out = Buffer.alloc(FIXED_BYTES + name.length + mime.length + meta.blockHashes.length * HASH_LENGTH);
  let off = 0;
  off = out.writeUInt8(METADATA_VERSION, off);
  off = out.writeUInt8(name.length, off);
  off += name.copy(out, off);
  off = out.writeUInt8(mime.length, off);
  off += mime.copy(out, off);
  off = out.writeBigInt64LE(BigInt(meta.mtime), off);
  off = out.writeBigUInt64LE(BigInt(meta.size), off);
  off = out.writeUInt32LE(meta.blockSize, off);
  off = out.writeUInt8(HASH_ALGORITHM_ID, off);
  for (const hash of meta.blockHashes) off += hash.copy(out, off);
  return out;
}

/** Decodes and checks an advertisement from the network; every failure is a FileShareError. */
export function decodeMetadata(buf: Buffer, limits: AdvertisementLimits = {}): FileMetadata {
  if (buf.length > MAX_MESSAGE_SIZE) throw bad('TOO_LARGE', `advertisement of ${buf.length} bytes exceeds one message`);
  let off = 0;
  const need = (n: number, what: string): void => {
    if (off + n > buf.length) throw bad('BAD_ADVERTISEMENT', `advertisement truncated in ${what}`);
  };
  need(1, 'version');
  const version = buf.readUInt8(off++);
  if (version !== METADATA_VERSION) throw bad('BAD_ADVERTISEMENT', `unknown advertisement version ${version}`);
  need(1, 'name length');
  const nameLen = buf.readUInt8(off++);
  need(nameLen, 'name');
  let name: string;
  try {
    name = UTF8.decode(buf.subarray(off, off + nameLen));
  } catch {
    throw bad('BAD_NAME', 'file name is not UTF-8');
  }
  off += nameLen;
  need(1, 'MIME length');
  const mimeLen = buf.readUInt8(off++);
  need(mimeLen, 'MIME type');
  const mimeType = buf.toString('latin1', off, off + mimeLen);
  off += mimeLen;
  need(8 + 8 + 4 + 1, 'sizes');
  const mtime = buf.readBigInt64LE(off);
  off += 8;
  const size = buf.readBigUInt64LE(off);
  off += 8;
  const blockSize = buf.readUInt32LE(off);
  off += 4;
  const algorithm = buf.readUInt8(off++);
  if (algorithm !== HASH_ALGORITHM_ID) throw bad('BAD_ADVERTISEMENT', `unknown hash algorithm ${algorithm}`);
  if (size > BigInt(MAX_FILE_SIZE)) throw bad('TOO_LARGE', `file of ${size} bytes exceeds the ${MAX_FILE_SIZE}-byte limit`);
  if (mtime > BigInt(Number.MAX_SAFE_INTEGER) || mtime < BigInt(Number.MIN_SAFE_INTEGER)) throw bad('BAD_ADVERTISEMENT', 'mtime is out of range');
  const rest = buf.length - off;
  if (rest % HASH_LENGTH !== 0) throw bad('BAD_BLOCK_TABLE', `block table of ${rest} bytes is not whole hashes`);
  const blockHashes: Buffer[] = [];
  for (let i = 0; i < rest / HASH_LENGTH; i++) {
    blockHashes.push(Buffer.from(buf.subarray(off, off + HASH_LENGTH)));
    off += HASH_LENGTH;
  }
  const meta: FileMetadata = { name, mimeType, mtime: Number(mtime), size: Number(size), blockSize, blockHashes };
  checkMetadata(meta, limits);
  return meta;
}

/** File ID: SHA-256 over the encoded advertisement (metadata + block hashes). */
export function fileIdOf(encoded: Buffer): Buffer {
  return createHash(HASH_ALGORITHM).update(encoded).digest();
}
