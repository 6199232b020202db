/**
 * The zero-copy receive path: records cut at every possible place across reads are
 * parsed as views (`nextParts`) and opened piece by piece (`openParts`), with the same
 * result as the whole-buffer path, and every tampered byte still fails.
 */
import { expect } from 'chai';
import { randomBytes, randomInt } from 'node:crypto';
import { INNER_TYPE, MAX_RECORD_PAYLOAD } from '../../../core/secure-channel/constants.js';
import { SC_ERROR, SecureChannelError } from '../../../core/secure-channel/errors.js';
import { RecordOpener, RecordSealer } from '../../../core/secure-channel/record-protection.js';
import { RecordReader } from '../../../core/secure-channel/record-reader.js';
import type { RecordCipher } from '../../../core/secure-channel/suites.js';

const CIPHERS: RecordCipher[] = ['aes-256-gcm', 'aes-256-cbc-hmac-sha256'];
const FUZZ_ROUNDS = 300;

/** Cuts `buf` at the given offsets. */
function cut(buf: Buffer, at: number[]): Buffer[] {
  const points = [...new Set(at.filter((n) => n > 0 && n < buf.length))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, buf.length]) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  return out;
}

function joined(parts: Buffer[]): Buffer {
  return Buffer.concat(parts);
}

describe('secure channel: records across reads (zero-copy path)', () => {
  for (const cipher of CIPHERS) {
    describe(cipher, () => {
      it('opens a record split at every body offset (and in three pieces) like the whole record', () => {
        const traffic = randomBytes(32);
        const payload = randomBytes(300);
        const rec = Buffer.concat(new RecordSealer(cipher, traffic).seal(INNER_TYPE.DATA, [payload]));
        const header = rec.subarray(0, 3);
        const body = rec.subarray(3);
        for (let i = 1; i < body.length; i++) {
          const o = new RecordOpener(cipher, traffic);
          const parts = cut(body, [i, (i * 7) % body.length]);
          const out = o.openParts(header, parts, body.length);
          expect(out.type).to.equal(INNER_TYPE.DATA);
          expect(out.length).to.equal(payload.length);
          expect(joined(out.payload).equals(payload)).to.equal(true);
        }
      });

      it('rejects a bit flip in every byte when the body arrives in pieces', () => {
        const traffic = randomBytes(32);
        const rec = Buffer.concat(new RecordSealer(cipher, traffic).seal(INNER_TYPE.DATA, [randomBytes(100)]));
        for (let i = 3; i < rec.length; i++) {
          const bad = Buffer.from(rec);
          bad[i]! ^= 0x01;
          const body = bad.subarray(3);
          const parts = cut(body, [1 + (i % (body.length - 1)), 17, 40]);
          let code = '';
          try {
            new RecordOpener(cipher, traffic).openParts(bad.subarray(0, 3), parts, body.length);
          } catch (err) {
            expect(err).to.be.instanceOf(SecureChannelError);
            code = (err as SecureChannelError).code;
          }
          expect(code, `byte ${i}`).to.equal(SC_ERROR.BAD_MAC);
        }
      });

      it('reads a stream of records cut into random reads, in order, without joining', () => {
        const traffic = randomBytes(32);
        const s = new RecordSealer(cipher, traffic);
        const o = new RecordOpener(cipher, traffic);
        const sizes = [0, 1, 15, 16, 17, 200, 5000, MAX_RECORD_PAYLOAD, 3, MAX_RECORD_PAYLOAD - 1];
        const payloads = sizes.map((n) => randomBytes(n));
        const wire = Buffer.concat(payloads.flatMap((p) => s.seal(INNER_TYPE.DATA, [p])));
        const reader = new RecordReader();
        const got: Buffer[] = [];
        let off = 0;
        for (let round = 0; off < wire.length && round < 10_000; round++) {
          const n = Math.min(wire.length - off, randomInt(1, 70_000));
          reader.push(wire.subarray(off, off + n));
          off += n;
          for (let r = reader.nextParts(); r; r = reader.nextParts()) got.push(joined(o.openParts(r.header, r.parts, r.length).payload));
        }
        expect(reader.bufferedBytes).to.equal(0);
        expect(got.length).to.equal(payloads.length);
        got.forEach((g, i) => expect(g.equals(payloads[i]!), `record ${i}`).to.equal(true));
      });

      it('fuzz: random splits of random records always open to the sealed payload', () => {
        const traffic = randomBytes(32);
        const s = new RecordSealer(cipher, traffic);
        const o = new RecordOpener(cipher, traffic);
        for (let k = 0; k < FUZZ_ROUNDS; k++) {
          const payload = randomBytes(randomInt(0, 3000));
          const rec = Buffer.concat(s.seal(INNER_TYPE.DATA, [payload]));
          const body = rec.subarray(3);
          const parts = cut(body, [randomInt(0, body.length), randomInt(0, body.length), randomInt(0, body.length)]);
          const out = o.openParts(rec.subarray(0, 3), parts, body.length);
          expect(joined(out.payload).equals(payload)).to.equal(true);
        }
      });
    });
  }
});
