import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import {
  decodePacket,
  deriveLanKey,
  encodeQuery,
  encodeResponse,
  verifyPacket,
} from '../../../plugins/lan-discovery/packet.js';
import { QUERY_BYTES, RESPONSE_BYTES } from '../../../plugins/lan-discovery/constants.js';
import { LanDiscoveryError } from '../../../plugins/lan-discovery/errors.js';

// Test vectors, also in docs/protocol/lan-discovery.md; cross-checked with Python hmac/hashlib.
const VECTOR_ID = Buffer.from([...Array(20).keys()]);
const VECTOR_CHALLENGE = Buffer.from([...Array(32).keys()].map((i) => 0x20 + i));
const VECTOR_NONCE = Buffer.from([...Array(16).keys()].map((i) => 0xa0 + i));
const VECTOR_KEY = '9e12c84a91d461a0349bcf7a55300611a25dea734ef26e789b823d77052086f9';
const VECTOR_QUERY =
  '05010068e5cf8b010000202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f' +
  'e39721c949bd6c04f0d7cc7b5589dd9e0cffd12c8102f1c22645662b0730ebef';
const VECTOR_RESPONSE =
  '060128a0202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3fa0a1a2a3a4a5a6a7a8a9aaabacadaeaf' +
  '13c77b0cbb81bb43814083701309e231822a7c3a99421303b862dfccd319f4b3';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(LanDiscoveryError);
    return (err as LanDiscoveryError).code;
  }
  return undefined;
}

describe('lan-discovery packet codec', () => {
  const key = deriveLanKey(VECTOR_ID);

  it('matches the documented test vectors', () => {
    expect(key.toString('hex')).to.equal(VECTOR_KEY);
    expect(encodeQuery(key, { timestamp: 1_700_000_000_000, challenge: VECTOR_CHALLENGE }).toString('hex')).to.equal(VECTOR_QUERY);
    expect(
      encodeResponse(key, { servicePort: 41000, challenge: VECTOR_CHALLENGE, nonce: VECTOR_NONCE }).toString('hex'),
    ).to.equal(VECTOR_RESPONSE);
  });

  it('round-trips a query and a response and verifies their MACs', () => {
    const challenge = randomBytes(32);
    const query = decodePacket(encodeQuery(key, { timestamp: 123456789, challenge }));
    expect(query.type).to.equal('query');
    if (query.type !== 'query') throw new Error('unreachable');
    expect(query.timestamp).to.equal(123456789);
    expect(query.challenge.equals(challenge)).to.equal(true);
    expect(verifyPacket(key, query)).to.equal(true);

    const response = decodePacket(encodeResponse(key, { servicePort: 65535, challenge }));
    if (response.type !== 'response') throw new Error('expected a response');
    expect(response.servicePort).to.equal(65535);
    expect(response.challenge.equals(challenge)).to.equal(true);
    expect(response.nonce.length).to.equal(16);
    expect(verifyPacket(key, response)).to.equal(true);
  });

  it('never puts the network ID or the LAN key on the wire', () => {
    const id = randomBytes(20);
    const k = deriveLanKey(id);
    const challenge = randomBytes(32);
    for (const wire of [encodeQuery(k, { timestamp: Date.now(), challenge }), encodeResponse(k, { servicePort: 9000, challenge })]) {
      expect(wire.indexOf(id)).to.equal(-1);
      expect(wire.indexOf(k)).to.equal(-1);
      expect(wire.indexOf(id.subarray(0, 8))).to.equal(-1);
    }
  });

  it('fails the MAC under another network key', () => {
    const other = deriveLanKey(Buffer.alloc(20, 0xff));
    const packet = decodePacket(encodeQuery(key, { timestamp: 1, challenge: randomBytes(32) }));
    expect(verifyPacket(other, packet)).to.equal(false);
  });

  it('fails the MAC when any single bit of a valid packet flips', () => {
    for (const wire of [
      encodeQuery(key, { timestamp: 1_700_000_000_000, challenge: VECTOR_CHALLENGE }),
      encodeResponse(key, { servicePort: 41000, challenge: VECTOR_CHALLENGE }),
    ]) {
      let checked = 0;
      for (let bit = 0; bit < wire.length * 8; bit += 1) {
        const copy = Buffer.from(wire);
        copy[bit >> 3]! ^= 1 << (bit & 7);
        let packet;
        try {
          packet = decodePacket(copy);
        } catch {
          continue; // type/version/port byte broke the framing: rejected before the MAC
        }
        expect(verifyPacket(key, packet), `bit ${bit}`).to.equal(false);
        checked += 1;
      }
      // Only the type, version, the top timestamp bits and the port-zero case may break framing.
      expect(checked).to.be.greaterThan(wire.length * 8 - 32);
    }
  });

  it('rejects malformed datagrams with typed errors', () => {
    const query = encodeQuery(key, { timestamp: 5, challenge: randomBytes(32) });
    const response = encodeResponse(key, { servicePort: 80, challenge: randomBytes(32) });
    expect(codeOf(() => decodePacket(Buffer.alloc(0)))).to.equal('ERR_LAN_PACKET_LENGTH');
    expect(codeOf(() => decodePacket(Buffer.from([5])))).to.equal('ERR_LAN_PACKET_LENGTH');
    expect(codeOf(() => decodePacket(Buffer.from([7, 1, 0])))).to.equal('ERR_LAN_PACKET_TYPE');
    expect(codeOf(() => decodePacket(Buffer.concat([Buffer.from([5, 2]), query.subarray(2)])))).to.equal('ERR_LAN_PACKET_VERSION');
    expect(codeOf(() => decodePacket(query.subarray(0, QUERY_BYTES - 1)))).to.equal('ERR_LAN_PACKET_LENGTH');
    expect(codeOf(() => decodePacket(Buffer.concat([query, Buffer.alloc(1)])))).to.equal('ERR_LAN_PACKET_LENGTH');
    expect(codeOf(() => decodePacket(response.subarray(0, RESPONSE_BYTES - 1)))).to.equal('ERR_LAN_PACKET_LENGTH');
    const portZero = Buffer.from(response);
    portZero.writeUInt16LE(0, 2);
    expect(codeOf(() => decodePacket(portZero))).to.equal('ERR_LAN_PACKET_FIELD');
    const hugeTime = Buffer.from(query);
    hugeTime.writeBigUInt64LE(0xffffffffffffffffn, 2);
    expect(codeOf(() => decodePacket(hugeTime))).to.equal('ERR_LAN_PACKET_FIELD');
  });

  it('refuses bad arguments when encoding', () => {
    expect(codeOf(() => deriveLanKey(Buffer.alloc(19)))).to.equal('ERR_LAN_BAD_ARGUMENT');
    expect(codeOf(() => encodeQuery(key, { timestamp: 1, challenge: Buffer.alloc(31) }))).to.equal('ERR_LAN_BAD_ARGUMENT');
    expect(codeOf(() => encodeQuery(key, { timestamp: -1, challenge: Buffer.alloc(32) }))).to.equal('ERR_LAN_BAD_ARGUMENT');
    expect(codeOf(() => encodeResponse(key, { servicePort: 0, challenge: Buffer.alloc(32) }))).to.equal('ERR_LAN_BAD_ARGUMENT');
    expect(codeOf(() => encodeResponse(key, { servicePort: 65536, challenge: Buffer.alloc(32) }))).to.equal('ERR_LAN_BAD_ARGUMENT');
    expect(codeOf(() => encodeResponse(key, { servicePort: 1, challenge: Buffer.alloc(32), nonce: Buffer.alloc(3) }))).to.equal(
      'ERR_LAN_BAD_ARGUMENT',
    );
  });

  it('survives a bounded fuzz: random and mutated datagrams never pass as authentic', () => {
    const valid = [
      encodeQuery(key, { timestamp: Date.now(), challenge: randomBytes(32) }),
      encodeResponse(key, { servicePort: 4242, challenge: randomBytes(32) }),
    ];
    let decoded = 0;
    let rejected = 0;
    for (let i = 0; i < 4000; i += 1) {
      let input: Buffer;
      if (i % 2 === 0) {
        input = randomBytes(i % 200);
        if (i % 4 === 0 && input.length > 1) input[0] = 5 + (i % 8 === 0 ? 1 : 0); // reach the per-type checks
        if (i % 4 === 0 && input.length > 1) input[1] = 1;
      } else {
        input = Buffer.from(valid[i % 4 === 1 ? 0 : 1]!);
        const flips = 1 + (i % 5);
        for (let f = 0; f < flips; f += 1) input[(i * 7919 + f * 104729) % input.length]! ^= 1 + ((i + f) % 255);
      }
      let packet;
      try {
        packet = decodePacket(input);
      } catch (err) {
        expect(err).to.be.instanceOf(LanDiscoveryError);
        rejected += 1;
        continue;
      }
      decoded += 1;
      expect(verifyPacket(key, packet)).to.equal(false);
    }
    expect(decoded).to.be.greaterThan(100);
    expect(rejected).to.be.greaterThan(100);
  });
});
