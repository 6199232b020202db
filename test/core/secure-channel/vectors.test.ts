import { expect } from 'chai';
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { INNER_TYPE } from '../../../core/secure-channel/constants.js';
import { RecordOpener } from '../../../core/secure-channel/record-protection.js';
import { SUITE_NAMES, recordCipherOf } from '../../../core/secure-channel/suites.js';
import { computeVector, type VectorInputs, type VectorOutputs } from '../../../core/secure-channel/vectors.js';

const FILE = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/secure-channel/vectors.json');
const { vectors } = JSON.parse(readFileSync(FILE, 'utf8')) as { vectors: Array<{ inputs: VectorInputs; outputs: VectorOutputs }> };

/** RFC 5869 written out with HMAC, independent of node's hkdfSync. */
function hkdf(ikm: Buffer, salt: Buffer, info: Buffer, length: number): Buffer {
  const prk = createHmac('sha256', salt.length ? salt : Buffer.alloc(32)).update(ikm).digest();
  const blocks: Buffer[] = [];
  let prev = Buffer.alloc(0);
  for (let i = 1; blocks.length * 32 < length; i++) {
    prev = createHmac('sha256', prk).update(prev).update(info).update(Buffer.from([i])).digest();
    blocks.push(prev);
  }
  return Buffer.concat(blocks).subarray(0, length);
}

const h = (s: string): Buffer => Buffer.from(s, 'hex');

describe('secure channel: test vectors', () => {
  it('has one vector per suite', () => {
    expect(vectors.map((v) => v.inputs.suite).sort()).to.deep.equal(Object.keys(SUITE_NAMES).sort());
  });

  for (const { inputs, outputs } of vectors) {
    describe(inputs.suite, () => {
      it('reproduces every output from the inputs', () => {
        expect(computeVector(inputs)).to.deep.equal(outputs);
      });

      it('matches an independent HKDF / SHA-256 computation of the key schedule', () => {
        const th = createHash('sha256').update(h(outputs.clientHelloRecord)).update(h(outputs.serverHelloRecord)).digest();
        expect(th.toString('hex')).to.equal(outputs.transcriptHash);
        const secret = hkdf(h(outputs.sharedSecret), h(inputs.psk), Buffer.concat([Buffer.from('bitchat-sc1 secret'), th]), 32);
        expect(secret.toString('hex')).to.equal(outputs.secret);
        const label = (l: string): Buffer => hkdf(secret, Buffer.alloc(0), Buffer.from(l), 32);
        expect(label('bitchat-sc1 c traffic').toString('hex')).to.equal(outputs.clientTraffic);
        expect(label('bitchat-sc1 s traffic').toString('hex')).to.equal(outputs.serverTraffic);
        const proof = createHmac('sha256', label('bitchat-sc1 c psk')).update(th).digest();
        expect(proof.toString('hex')).to.equal(outputs.clientPskProof);
      });

      it('decrypts the first records with the derived keys', () => {
        const cipher = recordCipherOf(SUITE_NAMES[inputs.suite]);
        const open = (o: RecordOpener, rec: string) => {
          const b = h(rec);
          return o.open(b.subarray(0, 3), b.subarray(3));
        };
        const fromClient = new RecordOpener(cipher, h(outputs.clientTraffic));
        expect(open(fromClient, outputs.clientFirstRecord).payload.toString()).to.equal(inputs.clientData);
        expect(open(fromClient, outputs.clientKeyUpdateRecord).type).to.equal(INNER_TYPE.KEY_UPDATE);
        fromClient.update();
        expect(open(fromClient, outputs.clientRecordAfterUpdate).payload.toString()).to.equal(inputs.clientData);
        const fromServer = new RecordOpener(cipher, h(outputs.serverTraffic));
        expect(open(fromServer, outputs.serverFirstRecord).payload.toString()).to.equal(inputs.serverData);
      });
    });
  }
});
