/**
 * Record protection for one direction and one key epoch. Sequence numbers start at 0
 * with every key and are never sent: they are in the GCM nonce and in the CBC MAC, so a
 * replayed, reordered or dropped record fails authentication.
 *
 * AES-256-GCM (key = HKDF(traffic, "bitchat-sc1 key", 32), iv = HKDF(traffic, "bitchat-sc1 iv", 12)):
 *
 * | part | bytes |
 * | --- | --- |
 * | header | `0x17 ‖ u16 BE (1 + n + 16)`, also the associated data |
 * | ciphertext | AES-GCM(payload ‖ innerType), nonce = iv XOR (0^4 ‖ u64 BE seq) |
 * | tag | 16 |
 *
 * AES-256-CBC + HMAC-SHA256 (key, mac = HKDF(traffic, "bitchat-sc1 mac", 32),
 * ivKey = HKDF(traffic, "bitchat-sc1 iv", 32)), encrypt-then-MAC:
 *
 * | part | bytes |
 * | --- | --- |
 * | header | `0x17 ‖ u16 BE (16 + c + 32)` |
 * | IV | 16, fresh per record: AES-256-ECB(ivKey, u64 BE seq ‖ 0^8), unpredictable without the key |
 * | ciphertext | c = AES-CBC(payload ‖ innerType ‖ PKCS#7 padding) |
 * | MAC | HMAC-SHA256(mac, u64 BE seq ‖ header ‖ IV ‖ ciphertext) |
 *
 * The inner type goes last (as in TLS 1.3), so the payload starts block-aligned and is
 * handed to the cipher as it came, without a one-byte carry in front of it.
 *
 * The CBC MAC is checked (constant time) before a single byte is decrypted; GCM's
 * plaintext is not looked at until the tag verified.
 */
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual, type Cipher } from 'node:crypto';
import { LABEL, RECORD_TYPE } from './constants.js';
import { SC_ERROR, SecureChannelError, protocolError } from './errors.js';
import { encodeRecordHeader } from './handshake-codec.js';
import { expandLabel, nextTrafficSecret } from './key-schedule.js';
import type { RecordCipher } from './suites.js';

const GCM_TAG_BYTES = 16;
const GCM_IV_BYTES = 12;
const CBC_IV_BYTES = 16;
const MAC_BYTES = 32;
const TWO_32 = 2 ** 32;
/**
 * Payloads up to this size are copied with their inner type byte into one scratch buffer
 * and encrypted with one cipher call (a native call and an output buffer saved per record;
 * what matters for small messages).
 */
const JOIN_PAYLOAD_BELOW = 4096;
/** Never let a sequence number approach 2^64 (or lose precision in a JS number). */
const MAX_SEQUENCE = Number.MAX_SAFE_INTEGER;

/** Writes seq as u64 BE into `out` (8 bytes at `offset`). */
function writeSeq(out: Buffer, seq: number, offset: number): void {
  out.writeUInt32BE(Math.floor(seq / TWO_32), offset);
  out.writeUInt32BE(seq % TWO_32, offset + 4);
}

/** `n` bytes at logical offset `start` of `parts`: a view when they lie in one part, else a copy. */
function sliceParts(parts: readonly Buffer[], start: number, n: number): Buffer {
  let off = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (start < off + p.length) {
      const at = start - off;
      if (at + n <= p.length) return p.subarray(at, at + n);
      const out = Buffer.allocUnsafe(n);
      let got = p.copy(out, 0, at);
      for (let j = i + 1; got < n; j++) got += parts[j]!.copy(out, got, 0, Math.min(parts[j]!.length, n - got));
      return out;
    }
    off += p.length;
  }
  throw badMac();
}

/** Calls `each` with views covering `n` bytes from logical offset `start` of `parts`. */
function forEachRange(parts: readonly Buffer[], start: number, n: number, each: (view: Buffer) => void): void {
  let off = 0;
  const end = start + n;
  for (const p of parts) {
    const pEnd = off + p.length;
    if (pEnd > start && off < end) {
      const from = Math.max(start, off) - off;
      const to = Math.min(end, pEnd) - off;
      each(from === 0 && to === p.length ? p : p.subarray(from, to));
    }
    off = pEnd;
    if (off >= end) return;
  }
}

/** Splits decrypted pieces `payload ‖ innerType` into the type and the payload pieces (no copy). */
function splitInnerType(pieces: Buffer[]): { type: number; payload: Buffer[]; length: number } {
  let last = pieces.pop();
  while (last !== undefined && last.length === 0) last = pieces.pop();
  if (last === undefined) throw badMac();
  const type = last[last.length - 1]!;
  if (last.length > 1) pieces.push(last.subarray(0, last.length - 1));
  let length = 0;
  for (const p of pieces) length += p.length;
  return { type, payload: pieces, length };
}

function badMac(): SecureChannelError {
  return new SecureChannelError(SC_ERROR.BAD_MAC, 'record failed authentication');
}

export interface OpenedRecord {
  type: number;
  payload: Buffer;
}

/** An opened record whose payload is several buffers (views and cipher outputs, never joined). */
export interface OpenedParts {
  type: number;
  payload: Buffer[];
  /** Payload bytes in all. */
  length: number;
}

interface EpochKeys {
  key: Buffer;
  iv: Buffer;
  mac: Buffer;
  ivCipher: Cipher | null;
}

function deriveEpochKeys(cipher: RecordCipher, traffic: Buffer): EpochKeys {
  const key = expandLabel(traffic, LABEL.KEY, 32);
  if (cipher === 'aes-256-gcm') return { key, iv: expandLabel(traffic, LABEL.IV, GCM_IV_BYTES), mac: Buffer.alloc(0), ivCipher: null };
  const ivKey = expandLabel(traffic, LABEL.IV, 32);
  const ivCipher = createCipheriv('aes-256-ecb', ivKey, null).setAutoPadding(false);
  return { key, iv: Buffer.alloc(0), mac: expandLabel(traffic, LABEL.MAC, MAC_BYTES), ivCipher };
}

/** Shared by sealer and opener: the key epoch and its sequence number. */
abstract class RecordKeys {
  protected traffic: Buffer;
  protected keys: EpochKeys;
  protected seq = 0;
  /** Payload bytes protected with the current key. */
  bytesThisKey = 0;
  keyCreatedAt = Date.now();
  /** Scratch for the sequence number; every consumer copies it at once. */
  protected readonly seqScratch = Buffer.alloc(8);

  constructor(
    readonly cipher: RecordCipher,
    traffic: Buffer,
  ) {
    this.traffic = traffic;
    this.keys = deriveEpochKeys(cipher, traffic);
  }

  /** Ratchet to the next traffic secret; the old one is dropped (forward secrecy within a session). */
  update(): void {
    this.traffic = nextTrafficSecret(this.traffic);
    this.keys = deriveEpochKeys(this.cipher, this.traffic);
    this.seq = 0;
    this.bytesThisKey = 0;
    this.keyCreatedAt = Date.now();
  }

  protected nextSeq(): number {
    if (this.seq >= MAX_SEQUENCE) throw protocolError('sequence number exhausted without a key update');
    return this.seq++;
  }

  protected gcmNonce(seq: number): Buffer {
    const nonce = Buffer.from(this.keys.iv);
    const hi = Math.floor(seq / TWO_32);
    const lo = seq % TWO_32;
    nonce.writeUInt32BE((nonce.readUInt32BE(4) ^ hi) >>> 0, 4);
    nonce.writeUInt32BE((nonce.readUInt32BE(8) ^ lo) >>> 0, 8);
    return nonce;
  }

  protected seqBytes(seq: number): Buffer {
    writeSeq(this.seqScratch, seq, 0);
    return this.seqScratch;
  }
}

export class RecordSealer extends RecordKeys {
  /** Byte i holds i: the inner type as a one-byte input, without an allocation per record. */
  private readonly typeBytes = Buffer.from([0, 1, 2, 3, 4, 5, 6, 7]);
  /** `payload ‖ innerType` of a small record; the cipher reads it synchronously, so it is reused. */
  private readonly smallScratch = Buffer.allocUnsafe(JOIN_PAYLOAD_BELOW + 1);

  /** The cipher inputs: the pieces then the type byte, or both joined when small. */
  private inputs(innerType: number, pieces: readonly Buffer[], n: number): readonly Buffer[] {
    if (n >= JOIN_PAYLOAD_BELOW) return [...pieces, this.typeBytes.subarray(innerType, innerType + 1)];
    let off = 0;
    for (const p of pieces) off += p.copy(this.smallScratch, off);
    this.smallScratch[off] = innerType;
    return [this.smallScratch.subarray(0, off + 1)];
  }

  /**
   * Protects `concat(pieces) ‖ innerType` and returns the wire record as pieces (header
   * first), ready for a corked write. Pieces are not copied into one buffer.
   */
  seal(innerType: number, pieces: readonly Buffer[]): Buffer[] {
    let n = 0;
    for (const p of pieces) n += p.length;
    const seq = this.nextSeq();
    this.bytesThisKey += n;
    const inputs = this.inputs(innerType, pieces, n);
    if (this.cipher === 'aes-256-gcm') {
      const header = encodeRecordHeader(RECORD_TYPE.ENCRYPTED, 1 + n + GCM_TAG_BYTES);
      const c = createCipheriv('aes-256-gcm', this.keys.key, this.gcmNonce(seq));
      c.setAAD(header);
      const out = [header];
      for (const p of inputs) if (p.length > 0) out.push(c.update(p));
      c.final();
      out.push(c.getAuthTag());
      return out;
    }
    const block = Buffer.alloc(CBC_IV_BYTES);
    writeSeq(block, seq, 0);
    const iv = this.keys.ivCipher!.update(block);
    const ctLength = (Math.floor((1 + n) / 16) + 1) * 16;
    const header = encodeRecordHeader(RECORD_TYPE.ENCRYPTED, CBC_IV_BYTES + ctLength + MAC_BYTES);
    const c = createCipheriv('aes-256-cbc', this.keys.key, iv);
    const hmac = createHmac('sha256', this.keys.mac).update(this.seqBytes(seq)).update(header).update(iv);
    const out = [header, iv];
    const add = (ct: Buffer): void => {
      if (ct.length === 0) return;
      hmac.update(ct);
      out.push(ct);
    };
    for (const p of inputs) if (p.length > 0) add(c.update(p));
    add(c.final());
    out.push(hmac.digest());
    return out;
  }
}

export class RecordOpener extends RecordKeys {
  /** Authenticates and decrypts one encrypted record; throws ERR_SC_BAD_MAC on any tampering. */
  open(header: Buffer, body: Buffer): OpenedRecord {
    const { type, payload, length } = this.openParts(header, [body], body.length);
    return { type, payload: payload.length === 1 ? payload[0]! : Buffer.concat(payload, length) };
  }

  /**
   * Same as `open` for a body given as pieces (`length` bytes in all), as the record
   * reader hands them over: nothing is joined, the payload comes back as pieces.
   */
  openParts(header: Buffer, parts: readonly Buffer[], length: number): OpenedParts {
    const seq = this.nextSeq();
    const plain: Buffer[] = [];
    if (this.cipher === 'aes-256-gcm') {
      if (length < 1 + GCM_TAG_BYTES) throw badMac();
      const ctLength = length - GCM_TAG_BYTES;
      const d = createDecipheriv('aes-256-gcm', this.keys.key, this.gcmNonce(seq));
      d.setAAD(header);
      d.setAuthTag(sliceParts(parts, ctLength, GCM_TAG_BYTES));
      if (parts.length === 1) {
        plain.push(d.update(parts[0]!.subarray(0, ctLength)));
      } else {
        forEachRange(parts, 0, ctLength, (ct) => {
          const pt = d.update(ct);
          if (pt.length > 0) plain.push(pt);
        });
      }
      try {
        d.final();
      } catch {
        throw badMac();
      }
    } else {
      const ctLength = length - CBC_IV_BYTES - MAC_BYTES;
      if (ctLength < 16 || ctLength % 16 !== 0) throw badMac();
      const iv = sliceParts(parts, 0, CBC_IV_BYTES);
      const mac = sliceParts(parts, CBC_IV_BYTES + ctLength, MAC_BYTES);
      const hmac = createHmac('sha256', this.keys.mac).update(this.seqBytes(seq)).update(header).update(iv);
      forEachRange(parts, CBC_IV_BYTES, ctLength, (ct) => hmac.update(ct));
      if (!timingSafeEqual(hmac.digest(), mac)) throw badMac();
      const d = createDecipheriv('aes-256-cbc', this.keys.key, iv);
      try {
        forEachRange(parts, CBC_IV_BYTES, ctLength, (ct) => {
          const pt = d.update(ct);
          if (pt.length > 0) plain.push(pt);
        });
        const last = d.final();
        if (last.length > 0) plain.push(last);
      } catch {
        // Unreachable with an authentic record; kept so a bug cannot become an oracle.
        throw badMac();
      }
    }
    const opened = splitInnerType(plain);
    this.bytesThisKey += opened.length;
    return opened;
  }
}
