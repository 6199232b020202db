/**
 * The encrypted profile container: one file holding the private key,
 * certificates, trusted roots, pins and settings, sealed with the user's password.
 *
 * Byte layout (integers big-endian):
 * | offset | size | field |
 * | --- | --- | --- |
 * | 0 | 4 | ASCII "BCPF" |
 * | 4 | 1 | format version, 1 |
 * | 5 | 1 | KDF: 1 = PBKDF2-HMAC-SHA256 |
 * | 6 | 4 | KDF iterations, 200,000..10,000,000 |
 * | 10 | 1 | salt length s, 16..64 (32 written) |
 * | 11 | s | salt, fresh on every save |
 * | 11+s | 1 | cipher: 1 = AES-256-GCM |
 * | 12+s | 1 | nonce length, 12 |
 * | 13+s | 12 | nonce, fresh on every save |
 * | 25+s | 1 | key check length, 16 |
 * | 26+s | 16 | key check: HMAC-SHA256(checkKey, "bitchat profile key check")[0..16] |
 * | 42+s | 4 | ciphertext length n, 1..16 MiB |
 * | 46+s | n | ciphertext (UTF-8 JSON payload) |
 * | 46+s+n | 16 | GCM tag; the AAD is every byte before the ciphertext |
 *
 * master = PBKDF2-HMAC-SHA256(NFC UTF-8 password, salt, iterations, 32);
 * encKey = HKDF-SHA256(master, salt, "bitchat profile enc v1", 32);
 * checkKey = HKDF-SHA256(master, salt, "bitchat profile check v1", 32).
 * The key check tells a wrong password (check differs) from tampering (check
 * matches, tag does not). It gives an attacker nothing a trial decryption would
 * not: both cost one PBKDF2 per guess.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { IdentityError } from './errors.js';
import { withProgress, type ProgressHook } from './progress.js';

const MAGIC = Buffer.from('BCPF', 'ascii');
const VERSION = 1;
const KDF_PBKDF2_SHA256 = 1;
const CIPHER_AES_256_GCM = 1;
/** The paper's iteration count is the floor; files asking for more than the cap are refused (a crafted file must not stall us). */
export const MIN_KDF_ITERATIONS = 200_000;
export const MAX_KDF_ITERATIONS = 10_000_000;
export const DEFAULT_KDF_ITERATIONS = 200_000;
const SALT_BYTES = 32;
const MIN_SALT_BYTES = 16;
const MAX_SALT_BYTES = 64;
const NONCE_BYTES = 12;
const CHECK_BYTES = 16;
const TAG_BYTES = 16;
export const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;
const CHECK_LABEL = 'bitchat profile key check';

/** Header fields (everything the reader needs before deriving the key). */
export interface ProfileFileHeader {
  iterations: number;
  salt: Buffer;
  nonce: Buffer;
  keyCheck: Buffer;
  ciphertextLength: number;
  /** Bytes of the header (the AAD). */
  headerLength: number;
}

export interface SealOptions {
  iterations?: number;
  onProgress?: ProgressHook;
  /** Fixed salt and nonce: only for test vectors. */
  salt?: Buffer;
  nonce?: Buffer;
}

function checkPassword(password: string): Buffer {
  if (typeof password !== 'string' || password.length === 0) throw new IdentityError('ERR_PROFILE_EMPTY_PASSWORD', 'the profile password must not be empty');
  return Buffer.from(password.normalize('NFC'), 'utf8');
}

async function deriveKeys(password: Buffer, salt: Buffer, iterations: number, onProgress?: ProgressHook): Promise<{ encKey: Buffer; checkKey: Buffer }> {
  const master = await withProgress('kdf', onProgress, () =>
    new Promise<Buffer>((resolve, reject) => pbkdf2(password, salt, iterations, 32, 'sha256', (err, key) => (err ? reject(err) : resolve(key)))),
  );
  const encKey = Buffer.from(hkdfSync('sha256', master, salt, 'bitchat profile enc v1', 32));
  const checkKey = Buffer.from(hkdfSync('sha256', master, salt, 'bitchat profile check v1', 32));
  master.fill(0);
  return { encKey, checkKey };
}

function keyCheck(checkKey: Buffer): Buffer {
  return createHmac('sha256', checkKey).update(CHECK_LABEL).digest().subarray(0, CHECK_BYTES);
}

/** Encrypts a payload into the container format. */
export async function sealProfile(payload: Buffer, password: string, options: SealOptions = {}): Promise<Buffer> {
  const pw = checkPassword(password);
  const iterations = options.iterations ?? DEFAULT_KDF_ITERATIONS;
  if (!Number.isInteger(iterations) || iterations < MIN_KDF_ITERATIONS || iterations > MAX_KDF_ITERATIONS) {
    throw new IdentityError('ERR_PROFILE_UNSUPPORTED', `KDF iterations must be ${MIN_KDF_ITERATIONS}..${MAX_KDF_ITERATIONS}`);
  }
  if (payload.length === 0 || payload.length > MAX_PAYLOAD_BYTES) throw new IdentityError('ERR_PROFILE_MALFORMED', 'profile payload size out of range');
  const salt = options.salt ?? randomBytes(SALT_BYTES);
  const nonce = options.nonce ?? randomBytes(NONCE_BYTES);
  const { encKey, checkKey } = await deriveKeys(pw, salt, iterations, options.onProgress);
  const header = Buffer.alloc(46 + salt.length);
  let o = MAGIC.copy(header, 0);
  header[o++] = VERSION;
  header[o++] = KDF_PBKDF2_SHA256;
  header.writeUInt32BE(iterations, o);
  o += 4;
  header[o++] = salt.length;
  o += salt.copy(header, o);
  header[o++] = CIPHER_AES_256_GCM;
  header[o++] = nonce.length;
  o += nonce.copy(header, o);
  header[o++] = CHECK_BYTES;
  o += keyCheck(checkKey).copy(header, o);
  header.writeUInt32BE(payload.length, o);
  const cipher = createCipheriv('aes-256-gcm', encKey, nonce);
  cipher.setAAD(header);
  const ciphertext = Buffer.concat([cipher.update(payload), cipher.final()]);
  const tag = cipher.getAuthTag();
  encKey.fill(0);
  checkKey.fill(0);
  return Buffer.concat([header, ciphertext, tag]);
}

/** Reads and checks the header of untrusted bytes; every length is checked before it is read. */
export function decodeProfileHeader(file: Buffer): ProfileFileHeader {
  const truncated = (): never => {
    throw new IdentityError('ERR_PROFILE_TRUNCATED', 'profile file is truncated');
  };
  if (file.length < 4) truncated();
  if (!file.subarray(0, 4).equals(MAGIC)) throw new IdentityError('ERR_PROFILE_MALFORMED', 'not a bitchat profile file');
  if (file.length < 11) truncated();
  if (file[4] !== VERSION) throw new IdentityError('ERR_PROFILE_UNSUPPORTED', `profile format version ${file[4]} is not supported`);
  if (file[5] !== KDF_PBKDF2_SHA256) throw new IdentityError('ERR_PROFILE_UNSUPPORTED', `KDF ${file[5]} is not supported`);
  const iterations = file.readUInt32BE(6);
  if (iterations < MIN_KDF_ITERATIONS || iterations > MAX_KDF_ITERATIONS) throw new IdentityError('ERR_PROFILE_UNSUPPORTED', `KDF iterations ${iterations} out of range`);
  const s = file[10]!;
  if (s < MIN_SALT_BYTES || s > MAX_SALT_BYTES) throw new IdentityError('ERR_PROFILE_MALFORMED', 'bad salt length');
  const headerLength = 46 + s;
  if (file.length < headerLength) truncated();
  let o = 11;
  const salt = Buffer.from(file.subarray(o, o + s));
  o += s;
  if (file[o++] !== CIPHER_AES_256_GCM) throw new IdentityError('ERR_PROFILE_UNSUPPORTED', 'cipher not supported');
  if (file[o++] !== NONCE_BYTES) throw new IdentityError('ERR_PROFILE_MALFORMED', 'bad nonce length');
  const nonce = Buffer.from(file.subarray(o, o + NONCE_BYTES));
  o += NONCE_BYTES;
  if (file[o++] !== CHECK_BYTES) throw new IdentityError('ERR_PROFILE_MALFORMED', 'bad key check length');
  const check = Buffer.from(file.subarray(o, o + CHECK_BYTES));
  o += CHECK_BYTES;
  const n = file.readUInt32BE(o);
  if (n === 0 || n > MAX_PAYLOAD_BYTES) throw new IdentityError('ERR_PROFILE_MALFORMED', 'bad ciphertext length');
  if (file.length < headerLength + n + TAG_BYTES) truncated();
  if (file.length > headerLength + n + TAG_BYTES) throw new IdentityError('ERR_PROFILE_MALFORMED', 'trailing bytes after the profile');
  return { iterations, salt, nonce, keyCheck: check, ciphertextLength: n, headerLength };
}

/** Decrypts a container: ERR_PROFILE_BAD_PASSWORD for a wrong password, ERR_PROFILE_TAMPERED for altered bytes. */
export async function openProfile(file: Buffer, password: string, options: { onProgress?: ProgressHook } = {}): Promise<Buffer> {
  const pw = checkPassword(password);
  const h = decodeProfileHeader(file);
  const { encKey, checkKey } = await deriveKeys(pw, h.salt, h.iterations, options.onProgress);
  try {
    if (!timingSafeEqual(keyCheck(checkKey), h.keyCheck)) {
      throw new IdentityError('ERR_PROFILE_BAD_PASSWORD', 'wrong password (or the file header was altered)');
    }
    const decipher = createDecipheriv('aes-256-gcm', encKey, h.nonce);
    decipher.setAAD(file.subarray(0, h.headerLength));
    decipher.setAuthTag(file.subarray(h.headerLength + h.ciphertextLength));
    try {
      return Buffer.concat([decipher.update(file.subarray(h.headerLength, h.headerLength + h.ciphertextLength)), decipher.final()]);
    } catch (err) {
      throw new IdentityError('ERR_PROFILE_TAMPERED', 'the password is right but the profile file was altered or damaged', { cause: err });
    }
  } finally {
    encKey.fill(0);
    checkKey.fill(0);
  }
}

/** Stages of an atomic write, reported for progress (and so tests can look at the disk mid-save). */
export type SaveStage = 'temp-written' | 'renamed';

/**
 * Writes `data` to `path` so a crash at any point leaves either the old or the
 * new file: write a temp file beside it, fsync it, rename over, fsync the folder.
 */
export async function writeFileAtomic(path: string, data: Buffer, onStage?: (stage: SaveStage) => void | Promise<void>): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  let renamed = false;
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await onStage?.('temp-written');
    await rename(tmp, path);
    renamed = true;
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    await onStage?.('renamed');
  } finally {
    if (!renamed) await unlink(tmp).catch(() => undefined);
  }
}
