/** Record layer and codecs in isolation: every byte tampered, sequence checks, bounded fuzzing. */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { INNER_TYPE, MAX_RECORD_PAYLOAD, RECORD_TYPE } from '../../../core/secure-channel/constants.js';
import { SC_ERROR, SecureChannelError } from '../../../core/secure-channel/errors.js';
import {
  decodeClientHello,
  decodeIdentity,
  decodeServerHello,
  encodeClientHello,
  encodeIdentity,
  encodeServerHello,
} from '../../../core/secure-channel/handshake-codec.js';
import { RecordOpener, RecordSealer } from '../../../core/secure-channel/record-protection.js';
import { RecordReader } from '../../../core/secure-channel/record-reader.js';
import { SUITE, createKeyShare, type RecordCipher } from '../../../core/secure-channel/suites.js';

const CIPHERS: RecordCipher[] = ['aes-256-gcm', 'aes-256-cbc-hmac-sha256'];
const FUZZ_CASES = 3000;

function pair(cipher: RecordCipher): [RecordSealer, RecordOpener] {
  const traffic = randomBytes(32);
  return [new RecordSealer(cipher, traffic), new RecordOpener(cipher, traffic)];
}

function openWhole(o: RecordOpener, rec: Buffer) {
  return o.open(rec.subarray(0, 3), rec.subarray(3));
}

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(SecureChannelError);
    expect((err as SecureChannelError).code).to.equal(code);
    return;
  }
  expect.fail(`expected ${code}`);
}

describe('secure channel: record layer', () => {
  for (const cipher of CIPHERS) {
    describe(cipher, () => {
      it('round-trips empty, small and maximum payloads', () => {
        const [s, o] = pair(cipher);
        for (const n of [0, 1, 15, 16, 17, 1000, MAX_RECORD_PAYLOAD]) {
          const payload = randomBytes(n);
          const rec = Buffer.concat(s.seal(INNER_TYPE.DATA, [payload.subarray(0, n >> 1), payload.subarray(n >> 1)]));
          expect(rec.length).to.be.lessThan(64 * 1024 - 53);
          const out = openWhole(o, rec);
          expect(out.type).to.equal(INNER_TYPE.DATA);
          expect(out.payload.equals(payload)).to.equal(true);
        }
      });

      it('rejects a bit flip in every single byte of a record (header, IV, ciphertext, MAC/tag)', () => {
        const traffic = randomBytes(32);
        const rec = Buffer.concat(new RecordSealer(cipher, traffic).seal(INNER_TYPE.DATA, [randomBytes(100)]));
        for (let i = 0; i < rec.length; i++) {
          for (const bit of [0x01, 0x80]) {
            const bad = Buffer.from(rec);
            bad[i]! ^= bit;
            expectCode(() => openWhole(new RecordOpener(cipher, traffic), bad), SC_ERROR.BAD_MAC);
          }
        }
        // The untouched record still opens: the failures above are the flips.
        expect(openWhole(new RecordOpener(cipher, traffic), rec).payload.length).to.equal(100);
      });

      it('rejects replayed, reordered and skipped records (sequence numbers)', () => {
        const [s, o] = pair(cipher);
        const recs = [0, 1, 2].map((i) => Buffer.concat(s.seal(INNER_TYPE.DATA, [Buffer.from([i])])));
        openWhole(o, recs[0]!);
        expectCode(() => openWhole(o, recs[0]!), SC_ERROR.BAD_MAC); // replay (consumes seq 1)
        const [s2, o2] = pair(cipher);
        const r2 = [0, 1].map((i) => Buffer.concat(s2.seal(INNER_TYPE.DATA, [Buffer.from([i])])));
        expectCode(() => openWhole(o2, r2[1]!), SC_ERROR.BAD_MAC); // reorder / drop
      });

      it('rejects a record from the other direction or the previous key', () => {
        const [s, o] = pair(cipher);
        const [, other] = pair(cipher);
        const rec = Buffer.concat(s.seal(INNER_TYPE.DATA, [Buffer.from('x')]));
        expectCode(() => openWhole(other, rec), SC_ERROR.BAD_MAC);
        o.update();
        expectCode(() => openWhole(o, rec), SC_ERROR.BAD_MAC);
      });

      it('answers random bodies with ERR_SC_BAD_MAC only (fuzz)', () => {
        const [, o] = pair(cipher);
        for (let i = 0; i < FUZZ_CASES; i++) {
          const body = randomBytes(Math.floor(Math.random() * 200));
          const header = Buffer.from([RECORD_TYPE.ENCRYPTED, body.length >> 8, body.length & 0xff]);
          expectCode(() => o.open(header, body), SC_ERROR.BAD_MAC);
        }
      });
    });
  }

  it('the reader cuts records across arbitrary chunk boundaries', () => {
    const [s, o] = pair('aes-256-gcm');
    const payloads = Array.from({ length: 50 }, (_, i) => randomBytes(i * 97));
    const wire = Buffer.concat(payloads.flatMap((p) => s.seal(INNER_TYPE.DATA, [p])));
    const reader = new RecordReader();
    const got: Buffer[] = [];
    for (let off = 0; off < wire.length; ) {
      const n = 1 + Math.floor(Math.random() * 700);
      reader.push(wire.subarray(off, off + n));
      off += n;
      for (let r = reader.next(); r; r = reader.next()) got.push(o.open(r.header, r.body).payload);
    }
    expect(got.length).to.equal(payloads.length);
    got.forEach((g, i) => expect(g.equals(payloads[i]!)).to.equal(true));
  });

  it('the reader refuses unknown types and oversized lengths before waiting for the body', () => {
    const reader = new RecordReader();
    reader.push(Buffer.from([0x99, 0, 1]));
    expectCode(() => reader.next(), SC_ERROR.PROTOCOL);
    const r2 = new RecordReader();
    r2.push(Buffer.from([RECORD_TYPE.CLIENT_HELLO, 0xff, 0xff]));
    expectCode(() => r2.next(), SC_ERROR.PROTOCOL);
    const r3 = new RecordReader();
    r3.push(Buffer.from([RECORD_TYPE.ENCRYPTED, 0xff, 0xff]));
    expectCode(() => r3.next(), SC_ERROR.PROTOCOL);
  });
});

describe('secure channel: handshake codecs (fuzz)', () => {
  const hello = encodeClientHello({
    version: 1,
    nonce: randomBytes(32),
    offers: [
      { suite: SUITE.X25519_RSA_AES256_GCM, share: randomBytes(32) },
      { suite: SUITE.ECDHE_P256_RSA_AES256_CBC_SHA256, share: randomBytes(65) },
    ],
  });
  const serverHello = encodeServerHello({ version: 1, nonce: randomBytes(32), suite: SUITE.X25519_RSA_AES256_GCM, share: randomBytes(32) });
  const identity = encodeIdentity({ chain: [randomBytes(300), randomBytes(200)], staple: randomBytes(10), signature: randomBytes(64) });

  it('round-trips the messages', () => {
    expect(decodeClientHello(hello).offers.length).to.equal(2);
    expect(decodeServerHello(serverHello).share.length).to.equal(32);
    const id = decodeIdentity(identity);
    expect(id.chain.length).to.equal(2);
    expect(id.staple!.length).to.equal(10);
  });

  for (const [name, valid, decode] of [
    ['ClientHello', hello, decodeClientHello],
    ['ServerHello', serverHello, decodeServerHello],
    ['Identity', identity, decodeIdentity],
  ] as const) {
    it(`${name}: truncations, mutations and random bytes give a result or ERR_SC_PROTOCOL, nothing else`, () => {
      const tryDecode = (buf: Buffer): void => {
        try {
          (decode as (b: Buffer) => unknown)(buf);
        } catch (err) {
          expect((err as SecureChannelError).code).to.equal(SC_ERROR.PROTOCOL);
        }
      };
      for (let n = 0; n < valid.length; n++) expectCode(() => (decode as (b: Buffer) => unknown)(valid.subarray(0, n)), SC_ERROR.PROTOCOL);
      for (let i = 0; i < FUZZ_CASES; i++) {
        const m = Buffer.from(valid);
        for (let k = 0; k < 3; k++) m[Math.floor(Math.random() * m.length)] = Math.floor(Math.random() * 256);
        tryDecode(m);
        tryDecode(randomBytes(Math.floor(Math.random() * 120)));
      }
    });
  }

  it('key shares refuse invalid points and out-of-range DH values', () => {
    const x = createKeyShare(SUITE.X25519_RSA_AES256_GCM);
    expectCode(() => x.computeSecret(Buffer.alloc(32)), SC_ERROR.PROTOCOL); // low-order point 0
    expectCode(() => x.computeSecret(Buffer.alloc(31, 1)), SC_ERROR.PROTOCOL);
    const p = createKeyShare(SUITE.ECDHE_P256_RSA_AES256_CBC_SHA256);
    const offCurve = Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)]);
    expectCode(() => p.computeSecret(offCurve), SC_ERROR.PROTOCOL);
    const d = createKeyShare(SUITE.DHE2048_RSA_AES256_CBC_SHA256);
    const one = Buffer.alloc(256);
    one[255] = 1;
    expectCode(() => d.computeSecret(one), SC_ERROR.PROTOCOL);
    expectCode(() => d.computeSecret(Buffer.alloc(256, 0xff)), SC_ERROR.PROTOCOL);
    // Sanity: the valid exchange agrees.
    const a = createKeyShare(SUITE.DHE2048_RSA_AES256_CBC_SHA256);
    expect(a.computeSecret(d.share).equals(d.computeSecret(a.share))).to.equal(true);
  });
});
