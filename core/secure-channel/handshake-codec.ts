/**
 * Pure codecs for the secure channel's records and handshake messages. Every decoder
 * checks lengths before it reads and throws ERR_SC_PROTOCOL on anything malformed.
 *
 * Record (every byte on the wire is inside one):
 *
 * | off | size | field |
 * | --- | --- | --- |
 * | 0 | 1 | type: 0x01 ClientHello, 0x02 ServerHello, 0x03 PskProof, 0x15 Alert, 0x17 Encrypted |
 * | 1 | 2 | body length, u16 BE (<= 1024 for cleartext types, <= MAX_ENCRYPTED_BODY for 0x17) |
 * | 3 | n | body |
 *
 * ClientHello body:
 *
 * | off | size | field |
 * | --- | --- | --- |
 * | 0 | 4 | magic "BCSC" |
 * | 4 | 1 | version (1) |
 * | 5 | 32 | client nonce |
 * | 37 | 1 | k = number of offers (1..3) |
 * | 38 | ... | k x (u8 suite ‖ u16 BE share length ‖ share), in the client's order of preference |
 *
 * ServerHello body: `u8 version ‖ 32 nonce ‖ u8 suite ‖ u16 BE share length ‖ share`.
 * PskProof body: 32-byte HMAC. Alert body: `u8 code`.
 *
 * Identity (inner type 0x01 of an encrypted record):
 * `u8 n (1..8) ‖ n x (u16 BE length ‖ DER certificate, leaf first) ‖ u16 BE staple
 * length ‖ staple ‖ u16 BE signature length ‖ signature`.
 */
import {
  HASH_BYTES,
  HELLO_MAGIC,
  MAX_CHAIN_LENGTH,
  MAX_ENCRYPTED_BODY,
  MAX_PLAIN_BODY,
  NONCE_BYTES,
  RECORD_HEADER_BYTES,
  RECORD_TYPE,
} from './constants.js';
import { protocolError } from './errors.js';
import { isSuiteId, type SuiteId } from './suites.js';

export interface KeyShareOffer {
  suite: SuiteId;
  share: Buffer;
}

export interface ClientHello {
  version: number;
  nonce: Buffer;
  offers: KeyShareOffer[];
}

export interface ServerHello {
  version: number;
  nonce: Buffer;
  suite: SuiteId;
  share: Buffer;
}

export interface Identity {
  chain: Buffer[];
  staple?: Buffer;
  signature: Buffer;
}

const MAX_OFFERS = 3;
const U16_MAX = 0xffff;

export function encodeRecordHeader(type: number, bodyLength: number): Buffer {
  if (bodyLength > U16_MAX) throw new RangeError('record body too long');
  return Buffer.from([type, bodyLength >>> 8, bodyLength & 0xff]);
}

/** A whole cleartext record: header ‖ body. */
export function encodeRecord(type: number, body: Buffer): Buffer {
  return Buffer.concat([encodeRecordHeader(type, body.length), body]);
}

/** Checks a header's type and length; returns the body length. */
export function decodeRecordHeader(header: Buffer): { type: number; length: number } {
  if (header.length < RECORD_HEADER_BYTES) throw protocolError('short record header');
  const type = header[0]!;
  const length = header.readUInt16BE(1);
  switch (type) {
    case RECORD_TYPE.ENCRYPTED:
      if (length > MAX_ENCRYPTED_BODY) throw protocolError(`encrypted record of ${length} bytes is too large`);
      break;
    case RECORD_TYPE.CLIENT_HELLO:
    case RECORD_TYPE.SERVER_HELLO:
    case RECORD_TYPE.PSK_PROOF:
    case RECORD_TYPE.ALERT:
      if (length > MAX_PLAIN_BODY) throw protocolError(`cleartext record of ${length} bytes is too large`);
      break;
    default:
      throw protocolError(`unknown record type 0x${type.toString(16)}`);
  }
  return { type, length };
}

function u16(n: number): Buffer {
  return Buffer.from([n >>> 8, n & 0xff]);
}

export function encodeClientHello(hello: ClientHello): Buffer {
  if (hello.nonce.length !== NONCE_BYTES) throw new RangeError('nonce must be 32 bytes');
  const parts: Buffer[] = [HELLO_MAGIC, Buffer.from([hello.version]), hello.nonce, Buffer.from([hello.offers.length])];
  for (const offer of hello.offers) parts.push(Buffer.from([offer.suite]), u16(offer.share.length), offer.share);
  return Buffer.concat(parts);
}

/** Reads a version-independent prefix first, so a future version can still be answered with an alert. */
export function decodeClientHello(body: Buffer): ClientHello {
  if (body.length < HELLO_MAGIC.length + 1) throw protocolError('short ClientHello');
  if (!body.subarray(0, HELLO_MAGIC.length).equals(HELLO_MAGIC)) throw protocolError('ClientHello without magic');
  const version = body[4]!;
  let off = 5;
  if (body.length < off + NONCE_BYTES + 1) throw protocolError('short ClientHello');
  const nonce = Buffer.from(body.subarray(off, off + NONCE_BYTES));
  off += NONCE_BYTES;
  const count = body[off++]!;
  if (count < 1 || count > MAX_OFFERS) throw protocolError(`ClientHello offers ${count} suites`);
  const offers: KeyShareOffer[] = [];
  for (let i = 0; i < count; i++) {
    if (body.length < off + 3) throw protocolError('truncated key share offer');
    const suite = body[off]!;
    const len = body.readUInt16BE(off + 1);
    off += 3;
    if (body.length < off + len) throw protocolError('truncated key share');
    // Unknown suites are skipped, not fatal: a newer client may offer more.
    if (isSuiteId(suite)) {
      if (offers.some((o) => o.suite === suite)) throw protocolError('suite offered twice');
      offers.push({ suite, share: Buffer.from(body.subarray(off, off + len)) });
    }
    off += len;
  }
  if (off !== body.length) throw protocolError('trailing bytes after ClientHello');
  return { version, nonce, offers };
}

export function encodeServerHello(hello: ServerHello): Buffer {
  if (hello.nonce.length !== NONCE_BYTES) throw new RangeError('nonce must be 32 bytes');
  return Buffer.concat([Buffer.from([hello.version]), hello.nonce, Buffer.from([hello.suite]), u16(hello.share.length), hello.share]);
}

export function decodeServerHello(body: Buffer): ServerHello {
  if (body.length < 1 + NONCE_BYTES + 3) throw protocolError('short ServerHello');
  const version = body[0]!;
  const nonce = Buffer.from(body.subarray(1, 1 + NONCE_BYTES));
  let off = 1 + NONCE_BYTES;
  const suite = body[off]!;
  if (!isSuiteId(suite)) throw protocolError(`ServerHello chose unknown suite ${suite}`);
  const len = body.readUInt16BE(off + 1);
  off += 3;
  if (body.length !== off + len) throw protocolError('ServerHello length mismatch');
  return { version, nonce, suite, share: Buffer.from(body.subarray(off)) };
}

export function decodePskProof(body: Buffer): Buffer {
  if (body.length !== HASH_BYTES) throw protocolError('PSK proof must be 32 bytes');
  return body;
}

export function decodeAlert(body: Buffer): number {
  if (body.length !== 1) throw protocolError('alert must be 1 byte');
  return body[0]!;
}

export function encodeIdentity(identity: Identity): Buffer {
  const { chain, signature } = identity;
  const staple = identity.staple ?? Buffer.alloc(0);
  if (chain.length < 1 || chain.length > MAX_CHAIN_LENGTH) throw new RangeError(`chain must hold 1..${MAX_CHAIN_LENGTH} certificates`);
  const parts: Buffer[] = [Buffer.from([chain.length])];
  for (const der of chain) {
    if (der.length > U16_MAX) throw new RangeError('certificate too large');
    parts.push(u16(der.length), der);
  }
  if (staple.length > U16_MAX || signature.length > U16_MAX) throw new RangeError('staple or signature too large');
  parts.push(u16(staple.length), staple, u16(signature.length), signature);
  return Buffer.concat(parts);
}

export function decodeIdentity(body: Buffer): Identity {
  if (body.length < 1) throw protocolError('empty identity');
  const count = body[0]!;
  if (count < 1 || count > MAX_CHAIN_LENGTH) throw protocolError(`identity holds ${count} certificates`);
  let off = 1;
  const take = (what: string): Buffer => {
    if (body.length < off + 2) throw protocolError(`truncated ${what} length`);
    const len = body.readUInt16BE(off);
    off += 2;
    if (body.length < off + len) throw protocolError(`truncated ${what}`);
    const out = Buffer.from(body.subarray(off, off + len));
    off += len;
    return out;
  };
  const chain: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const der = take('certificate');
    if (der.length === 0) throw protocolError('empty certificate');
    chain.push(der);
  }
  const staple = take('staple');
  const signature = take('signature');
  if (off !== body.length) throw protocolError('trailing bytes after identity');
  return staple.length > 0 ? { chain, staple, signature } : { chain, signature };
}
