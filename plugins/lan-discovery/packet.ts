/**
 * Wire codec of LAN discovery (our v1; the structure of spec §6.3 with its weaknesses fixed).
 *
 * Every MAC is HMAC-SHA256 under the LAN key K = HKDF-SHA256(ikm = network ID, salt = empty,
 * info = "bitchat lan-discovery v1", 32 bytes). Only holders of the network ID can make or
 * recognise a packet; the network ID itself never appears on the wire. Integers are
 * little-endian, as everywhere in the spec.
 *
 * Query (74 bytes), broadcast / multicast to the LAN port:
 *
 * | off | size | field                                            |
 * | --- | ---- | ------------------------------------------------ |
 * | 0   | 1    | type = 5                                         |
 * | 1   | 1    | version = 1                                      |
 * | 2   | 8    | timestamp, u64 LE, ms since 1970 (replay window) |
 * | 10  | 32   | challenge, random                                |
 * | 42  | 32   | HMAC(K, bytes 0..41)                             |
 *
 * Response (84 bytes), unicast to the query's source address and port:
 *
 * | off | size | field                                            |
 * | --- | ---- | ------------------------------------------------ |
 * | 0   | 1    | type = 6                                         |
 * | 1   | 1    | version = 1                                      |
 * | 2   | 2    | service port, u16 LE, 1..65535                   |
 * | 4   | 32   | challenge, echoed from the query                 |
 * | 36  | 16   | responder nonce, random per response             |
 * | 52  | 32   | HMAC(K, bytes 0..51)                             |
 *
 * The type byte is inside each MAC, so a query can never pass as a response or back.
 * Decoders check the exact length before reading anything and never allocate from
 * a length on the wire. MAC checks use `timingSafeEqual`.
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  CHALLENGE_BYTES,
  KEY_DERIVATION_INFO,
  MAC_BYTES,
  NETWORK_ID_BYTES,
  PACKET_VERSION,
  QUERY_BYTES,
  RESPONDER_NONCE_BYTES,
  RESPONSE_BYTES,
  TYPE_QUERY,
  TYPE_RESPONSE,
} from './constants.js';
import { LAN_ERROR_CODES, LanDiscoveryError } from './errors.js';

const QUERY_SIGNED_BYTES = QUERY_BYTES - MAC_BYTES;
const RESPONSE_SIGNED_BYTES = RESPONSE_BYTES - MAC_BYTES;

/** A query as decoded: fields plus the bytes its MAC covers. */
export interface LanQuery {
  type: 'query';
  timestamp: number;
  challenge: Buffer;
  mac: Buffer;
  signed: Buffer;
}

/** A response as decoded: fields plus the bytes its MAC covers. */
export interface LanResponse {
  type: 'response';
  servicePort: number;
  challenge: Buffer;
  nonce: Buffer;
  mac: Buffer;
  signed: Buffer;
}

export type LanPacket = LanQuery | LanResponse;

/** The 32-byte LAN key of a network ID (see the header comment). */
export function deriveLanKey(networkId: Buffer): Buffer {
  if (!Buffer.isBuffer(networkId) || networkId.length !== NETWORK_ID_BYTES) {
    throw new LanDiscoveryError(LAN_ERROR_CODES.BAD_ARGUMENT, `network ID must be ${NETWORK_ID_BYTES} bytes`);
  }
  return Buffer.from(hkdfSync('sha256', networkId, Buffer.alloc(0), KEY_DERIVATION_INFO, 32));
}

function mac(key: Buffer, signed: Buffer): Buffer {
  return createHmac('sha256', key).update(signed).digest();
}

function checkFixed(buf: Buffer, name: string, bytes: number): void {
  if (!Buffer.isBuffer(buf) || buf.length !== bytes) {
    throw new LanDiscoveryError(LAN_ERROR_CODES.BAD_ARGUMENT, `${name} must be ${bytes} bytes`);
  }
}

/** Encode a query for the network whose LAN key is `key`. */
export function encodeQuery(key: Buffer, fields: { timestamp: number; challenge: Buffer }): Buffer {
  checkFixed(fields.challenge, 'challenge', CHALLENGE_BYTES);
  if (!Number.isSafeInteger(fields.timestamp) || fields.timestamp < 0) {
    throw new LanDiscoveryError(LAN_ERROR_CODES.BAD_ARGUMENT, 'timestamp must be a non-negative safe integer');
  }
  const out = Buffer.alloc(QUERY_BYTES);
  out[0] = TYPE_QUERY;
  out[1] = PACKET_VERSION;
  out.writeBigUInt64LE(BigInt(fields.timestamp), 2);
  fields.challenge.copy(out, 10);
  mac(key, out.subarray(0, QUERY_SIGNED_BYTES)).copy(out, QUERY_SIGNED_BYTES);
  return out;
}

/** Encode a response to `challenge` for the network whose LAN key is `key`. */
export function encodeResponse(
  key: Buffer,
  fields: { servicePort: number; challenge: Buffer; nonce?: Buffer },
): Buffer {
  checkFixed(fields.challenge, 'challenge', CHALLENGE_BYTES);
  const nonce = fields.nonce ?? randomBytes(RESPONDER_NONCE_BYTES);
  checkFixed(nonce, 'nonce', RESPONDER_NONCE_BYTES);
  if (!Number.isInteger(fields.servicePort) || fields.servicePort < 1 || fields.servicePort > 0xffff) {
    throw new LanDiscoveryError(LAN_ERROR_CODES.BAD_ARGUMENT, 'service port must be 1..65535');
  }
  const out = Buffer.alloc(RESPONSE_BYTES);
  out[0] = TYPE_RESPONSE;
  out[1] = PACKET_VERSION;
  out.writeUInt16LE(fields.servicePort, 2);
  fields.challenge.copy(out, 4);
  nonce.copy(out, 36);
  mac(key, out.subarray(0, RESPONSE_SIGNED_BYTES)).copy(out, RESPONSE_SIGNED_BYTES);
  return out;
}

/**
 * Parse a datagram. Throws LanDiscoveryError (PACKET_LENGTH, PACKET_TYPE, PACKET_VERSION,
 * PACKET_FIELD) for anything malformed. It does not check the MAC: that needs a key,
 * see {@link verifyPacket}. The returned buffers are views into `buf`.
 */
export function decodePacket(buf: Buffer): LanPacket {
  if (buf.length < 2) {
    throw new LanDiscoveryError(LAN_ERROR_CODES.PACKET_LENGTH, `datagram of ${buf.length} bytes is too short`);
  }
  const type = buf[0];
  if (type !== TYPE_QUERY && type !== TYPE_RESPONSE) {
    throw new LanDiscoveryError(LAN_ERROR_CODES.PACKET_TYPE, `unknown packet type ${type}`);
  }
  if (buf[1] !== PACKET_VERSION) {
    throw new LanDiscoveryError(LAN_ERROR_CODES.PACKET_VERSION, `unsupported version ${buf[1]}`);
  }
  if (type === TYPE_QUERY) {
    if (buf.length !== QUERY_BYTES) {
      throw new LanDiscoveryError(LAN_ERROR_CODES.PACKET_LENGTH, `query must be ${QUERY_BYTES} bytes, got ${buf.length}`);
    }
    const timestamp = buf.readBigUInt64LE(2);
    if (timestamp > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new LanDiscoveryError(LAN_ERROR_CODES.PACKET_FIELD, 'timestamp out of range');
    }
    return {
      type: 'query',
      timestamp: Number(timestamp),
      challenge: buf.subarray(10, 10 + CHALLENGE_BYTES),
      mac: buf.subarray(QUERY_SIGNED_BYTES, QUERY_BYTES),
      signed: buf.subarray(0, QUERY_SIGNED_BYTES),
    };
  }
  if (buf.length !== RESPONSE_BYTES) {
    throw new LanDiscoveryError(LAN_ERROR_CODES.PACKET_LENGTH, `response must be ${RESPONSE_BYTES} bytes, got ${buf.length}`);
  }
  const servicePort = buf.readUInt16LE(2);
  if (servicePort === 0) {
    throw new LanDiscoveryError(LAN_ERROR_CODES.PACKET_FIELD, 'service port 0');
  }
  return {
    type: 'response',
    servicePort,
    challenge: buf.subarray(4, 4 + CHALLENGE_BYTES),
    nonce: buf.subarray(36, 36 + RESPONDER_NONCE_BYTES),
    mac: buf.subarray(RESPONSE_SIGNED_BYTES, RESPONSE_BYTES),
    signed: buf.subarray(0, RESPONSE_SIGNED_BYTES),
  };
}

/** True when the packet's MAC is right for the LAN key `key` (constant time). */
export function verifyPacket(key: Buffer, packet: LanPacket): boolean {
  const expected = mac(key, packet.signed);
  return packet.mac.length === expected.length && timingSafeEqual(packet.mac, expected);
}
