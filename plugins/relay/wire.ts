/**
 * Wire codec of the relay signals (PROTOCOL.md §1.9, our variant). Frames are the
 * connection layer's; this module encodes only their data. All pure functions.
 *
 * StartTcpRelay (10), channel name = request ID `R` (20 random bytes):
 *
 * | off | size   | field                                              |
 * | --- | ------ | -------------------------------------------------- |
 * | 0   | 1      | kind: 1 = register, 2 = probe (dial me back)       |
 * | 1   | 1      | register only: network count `k` (1..255)          |
 * | 2   | 20 × k | register only: networkID_i XOR pad_i               |
 *
 * A probe is exactly 1 byte. `pad_i = HMAC-SHA1(R, "bitchat relay mask" ‖ u8 i)`.
 * No tracker URIs: relays announce only on their own DHT node and trackers.
 *
 * StopTcpRelay (11), channel name = `R`: `u8 k ‖ 20 × k masked IDs`; `k = 0` stops all.
 *
 * TcpRelayResponseSuccess (12), channel name = `R` echoed: `u8 status` (RelayStatus).
 *
 * TcpRelayResponsePeerList (13), channel name = the network channel name the
 * member opened: `u8 count ‖ count × EPN` (20-byte EPN of the connection layer).
 */
import { createHmac } from 'node:crypto';
import { decodeEpn, encodeEpn } from '../../core/connection/endpoint.js';
import type { Endpoint, NetworkId } from '../../core/types.js';
import {
  EPN_BYTES,
  MASK_LABEL,
  MAX_NETWORKS_PER_REQUEST,
  MAX_PEER_LIST,
  NETWORK_ID_BYTES,
  REQUEST_ID_BYTES,
  RequestKind,
  type RelayStatusValue,
  RelayStatus,
} from './constants.js';
import { RelayError } from './errors.js';

export type RelayRequest = { kind: 'register'; networkIds: NetworkId[] } | { kind: 'probe' };

const STATUS_VALUES: ReadonlySet<number> = new Set(Object.values(RelayStatus));

function pad(requestId: Buffer, slot: number): Buffer {
  return createHmac('sha1', requestId).update(MASK_LABEL, 'utf8').update(Buffer.of(slot)).digest();
}

function checkRequestId(requestId: Buffer): void {
  if (requestId.length !== REQUEST_ID_BYTES) throw RelayError.malformed(`request ID must be ${REQUEST_ID_BYTES} bytes`);
}

function maskIds(networkIds: NetworkId[], requestId: Buffer): Buffer {
  const out = Buffer.alloc(1 + NETWORK_ID_BYTES * networkIds.length);
  out[0] = networkIds.length;
  networkIds.forEach((id, i) => {
    if (id.length !== NETWORK_ID_BYTES) throw RelayError.malformed('network ID must be 20 bytes');
    const p = pad(requestId, i);
    for (let j = 0; j < NETWORK_ID_BYTES; j++) out[1 + i * NETWORK_ID_BYTES + j] = id[j]! ^ p[j]!;
  });
  return out;
}

function unmaskIds(buf: Buffer, requestId: Buffer, minCount: number): NetworkId[] {
  if (buf.length < 1) throw RelayError.malformed('no network count');
  const k = buf[0]!;
  if (k < minCount) throw RelayError.malformed('no networks');
  if (buf.length !== 1 + k * NETWORK_ID_BYTES) throw RelayError.malformed(`length ${buf.length} does not hold ${k} network IDs`);
  const ids: NetworkId[] = [];
  for (let i = 0; i < k; i++) {
    const p = pad(requestId, i);
    const id = Buffer.alloc(NETWORK_ID_BYTES);
    for (let j = 0; j < NETWORK_ID_BYTES; j++) id[j] = buf[1 + i * NETWORK_ID_BYTES + j]! ^ p[j]!;
    ids.push(id);
  }
  return ids;
}

function checkCount(n: number, min: number): void {
  if (n < min || n > MAX_NETWORKS_PER_REQUEST) throw RelayError.malformed(`${min}..${MAX_NETWORKS_PER_REQUEST} networks per request, got ${n}`);
}

/** Data of a StartTcpRelay frame whose channel name is `requestId`. */
export function encodeRelayRequest(request: RelayRequest, requestId: Buffer): Buffer {
  checkRequestId(requestId);
  if (request.kind === 'probe') return Buffer.of(RequestKind.PROBE);
  checkCount(request.networkIds.length, 1);
  return Buffer.concat([Buffer.of(RequestKind.REGISTER), maskIds(request.networkIds, requestId)]);
}

export function decodeRelayRequest(data: Buffer, requestId: Buffer): RelayRequest {
  checkRequestId(requestId);
  if (data.length < 1) throw RelayError.malformed('empty request');
  const kind = data[0];
  if (kind === RequestKind.PROBE) {
    if (data.length !== 1) throw RelayError.malformed('probe carries no data');
    return { kind: 'probe' };
  }
  if (kind !== RequestKind.REGISTER) throw RelayError.malformed(`unknown request kind ${kind}`);
  return { kind: 'register', networkIds: unmaskIds(data.subarray(1), requestId, 1) };
}

/** Data of a StopTcpRelay frame; an empty list stops every network of the client. */
export function encodeRelayStop(networkIds: NetworkId[], requestId: Buffer): Buffer {
  checkRequestId(requestId);
  checkCount(networkIds.length, 0);
  return maskIds(networkIds, requestId);
}

export function decodeRelayStop(data: Buffer, requestId: Buffer): NetworkId[] {
  checkRequestId(requestId);
  return unmaskIds(data, requestId, 0);
}

export function encodeRelayResponse(status: RelayStatusValue): Buffer {
  return Buffer.of(status);
}

export function decodeRelayResponse(data: Buffer): RelayStatusValue {
  if (data.length !== 1) throw RelayError.malformed(`response must be 1 byte, got ${data.length}`);
  if (!STATUS_VALUES.has(data[0]!)) throw RelayError.malformed(`unknown status ${data[0]}`);
  return data[0] as RelayStatusValue;
}

export function encodePeerList(endpoints: Endpoint[]): Buffer {
  if (endpoints.length > MAX_PEER_LIST) throw RelayError.malformed(`at most ${MAX_PEER_LIST} end points per list`);
  return Buffer.concat([Buffer.of(endpoints.length), ...endpoints.map((e) => encodeEpn(e))]);
}

export function decodePeerList(data: Buffer): Endpoint[] {
  if (data.length < 1) throw RelayError.malformed('empty peer list');
  const count = data[0]!;
  if (data.length !== 1 + count * EPN_BYTES) throw RelayError.malformed(`length ${data.length} does not hold ${count} end points`);
  const out: Endpoint[] = [];
  for (let i = 0; i < count; i++) {
    try {
      out.push(decodeEpn(data.subarray(1 + i * EPN_BYTES, 1 + (i + 1) * EPN_BYTES)));
    } catch (err) {
      throw new RelayError('ERR_RELAY_MALFORMED', `bad end point ${i} in peer list`, { cause: err });
    }
  }
  return out;
}
