import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { RELAY_INFO_HASH, RelayStatus } from '../../../plugins/relay/constants.js';
import {
  decodePeerList,
  decodeRelayRequest,
  decodeRelayResponse,
  decodeRelayStop,
  encodePeerList,
  encodeRelayRequest,
  encodeRelayResponse,
  encodeRelayStop,
} from '../../../plugins/relay/wire.js';

const R = Buffer.alloc(20, 0x5a);
const NET = Buffer.alloc(20, 0x11);

describe('plugins/relay wire codec', () => {
  it('derives the relay info-hash as SHA-1("bitchat relay v1")', () => {
    expect(RELAY_INFO_HASH.toString('hex')).to.equal('b18a09887987038f939a95b1fbfca8c020ed3251');
  });

  it('matches the documented test vectors', () => {
    const register = encodeRelayRequest({ kind: 'register', networkIds: [NET] }, R);
    expect(register.toString('hex')).to.equal(VECTOR_REGISTER);
    expect(encodeRelayRequest({ kind: 'probe' }, R).toString('hex')).to.equal('02');
    expect(encodeRelayStop([], R).toString('hex')).to.equal('00');
    expect(encodeRelayResponse(RelayStatus.OK).toString('hex')).to.equal('00');
    expect(encodePeerList([{ host: '127.0.0.1', port: 0x1234 }]).toString('hex')).to.equal('01007f000001341200000000000000000000000000');
  });

  it('round-trips requests, stops, responses and peer lists', () => {
    const ids = Array.from({ length: 5 }, () => randomBytes(20));
    const id = randomBytes(20);
    const decoded = decodeRelayRequest(encodeRelayRequest({ kind: 'register', networkIds: ids }, id), id);
    expect(decoded.kind).to.equal('register');
    expect(decoded.kind === 'register' && decoded.networkIds.map((b) => b.toString('hex'))).to.deep.equal(ids.map((b) => b.toString('hex')));
    expect(decodeRelayRequest(encodeRelayRequest({ kind: 'probe' }, id), id)).to.deep.equal({ kind: 'probe' });
    expect(decodeRelayStop(encodeRelayStop(ids, id), id).map((b) => b.toString('hex'))).to.deep.equal(ids.map((b) => b.toString('hex')));
    expect(decodeRelayResponse(encodeRelayResponse(RelayStatus.UNREACHABLE))).to.equal(RelayStatus.UNREACHABLE);
    const eps = [{ host: '10.1.2.3', port: 1 }, { host: '::1', port: 65535 }];
    expect(decodePeerList(encodePeerList(eps))).to.deep.equal(eps);
  });

  it('masks network IDs: neither the ID nor the spec\'s plain XOR with R is on the wire', () => {
    const wire = encodeRelayRequest({ kind: 'register', networkIds: [NET, NET] }, R);
    expect(wire.includes(NET)).to.equal(false);
    const xor = Buffer.from(NET.map((b, i) => b ^ R[i]!));
    expect(wire.includes(xor)).to.equal(false);
    // Two slots with the same ID do not look alike.
    expect(wire.subarray(2, 22).equals(wire.subarray(22, 42))).to.equal(false);
    // Another request ID, another mask.
    expect(encodeRelayRequest({ kind: 'register', networkIds: [NET] }, randomBytes(20)).equals(encodeRelayRequest({ kind: 'register', networkIds: [NET] }, R))).to.equal(false);
  });

  it('refuses bad lengths, counts and kinds with ERR_RELAY_MALFORMED', () => {
    const bad = [
      () => decodeRelayRequest(Buffer.alloc(0), R),
      () => decodeRelayRequest(Buffer.of(9), R),
      () => decodeRelayRequest(Buffer.of(2, 0), R),
      () => decodeRelayRequest(Buffer.of(1, 0), R),
      () => decodeRelayRequest(Buffer.of(1, 2, ...NET), R),
      () => decodeRelayRequest(Buffer.of(1), R),
      () => decodeRelayRequest(Buffer.of(2), Buffer.alloc(19)),
      () => decodeRelayStop(Buffer.alloc(0), R),
      () => decodeRelayStop(Buffer.of(1), R),
      () => decodeRelayResponse(Buffer.alloc(2)),
      () => decodeRelayResponse(Buffer.of(200)),
      () => decodePeerList(Buffer.alloc(0)),
      () => decodePeerList(Buffer.of(1, 0)),
      () => decodePeerList(Buffer.concat([Buffer.of(1, 7), Buffer.alloc(19)])),
    ];
    for (const f of bad) expect(f).to.throw().with.property('code', 'ERR_RELAY_MALFORMED');
  });

  it('survives random and mutated input (fuzz): a typed error or a value, never a crash', () => {
    const seeds = [
      encodeRelayRequest({ kind: 'register', networkIds: [NET, randomBytes(20)] }, R),
      encodeRelayStop([NET], R),
      encodePeerList([{ host: '1.2.3.4', port: 5 }, { host: '::1', port: 6 }]),
    ];
    for (let i = 0; i < 3000; i++) {
      let input: Buffer;
      if (i % 2 === 0) input = randomBytes(i % 97);
      else {
        input = Buffer.from(seeds[i % seeds.length]!);
        const flips = 1 + (i % 3);
        for (let f = 0; f < flips; f++) input[(i * 7 + f * 13) % input.length] ^= 1 << (f % 8);
        if (i % 5 === 0) input = input.subarray(0, input.length - 1 - (i % 4));
      }
      for (const decode of [(b: Buffer) => decodeRelayRequest(b, R), (b: Buffer) => decodeRelayStop(b, R), decodePeerList, decodeRelayResponse]) {
        try {
          decode(input);
        } catch (err) {
          expect((err as { code?: string }).code).to.equal('ERR_RELAY_MALFORMED');
        }
      }
    }
  });
});

const VECTOR_REGISTER = '0101c82d2014059e56f1517b1f2a36e86d4f7b3ec43f';
