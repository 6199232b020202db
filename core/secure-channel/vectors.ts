/**
 * Computes the test-vector record of docs/protocol/secure-channel.md from fixed inputs:
 * the same code paths a live handshake takes, minus randomness. Used by the fixture
 * generator and by the test that checks the committed JSON.
 */
import { INNER_TYPE, PROTOCOL_VERSION, RECORD_TYPE } from './constants.js';
import { encodeClientHello, encodeRecord, encodeServerHello } from './handshake-codec.js';
import { deriveSessionSecrets, signedContent, transcriptHash } from './key-schedule.js';
import { RecordSealer } from './record-protection.js';
import { SUITE_NAMES, createKeyShare, recordCipherOf, type SuiteName } from './suites.js';

export interface VectorInputs {
  suite: SuiteName;
  psk: string;
  clientNonce: string;
  serverNonce: string;
  clientPrivate: string;
  serverPrivate: string;
  /** UTF-8 payloads of the first data records. */
  clientData: string;
  serverData: string;
}

export interface VectorOutputs {
  clientShare: string;
  serverShare: string;
  clientHelloRecord: string;
  serverHelloRecord: string;
  sharedSecret: string;
  transcriptHash: string;
  secret: string;
  clientPskProof: string;
  serverPskProof: string;
  clientTraffic: string;
  serverTraffic: string;
  exporter: string;
  clientSignedContent: string;
  /** Client's first encrypted record (sequence 0): DATA clientData. */
  clientFirstRecord: string;
  /** Server's first encrypted record (sequence 0): DATA serverData. */
  serverFirstRecord: string;
  /** Client: KEY_UPDATE at sequence 1, then DATA clientData at sequence 0 of the next key. */
  clientKeyUpdateRecord: string;
  clientRecordAfterUpdate: string;
}

const hex = (b: Buffer): string => b.toString('hex');
const join = (parts: Buffer[]): string => hex(Buffer.concat(parts));

export function computeVector(v: VectorInputs): VectorOutputs {
  const id = SUITE_NAMES[v.suite];
  const clientShare = createKeyShare(id, Buffer.from(v.clientPrivate, 'hex'));
  const serverShare = createKeyShare(id, Buffer.from(v.serverPrivate, 'hex'));
  const ch = encodeRecord(
    RECORD_TYPE.CLIENT_HELLO,
    encodeClientHello({ version: PROTOCOL_VERSION, nonce: Buffer.from(v.clientNonce, 'hex'), offers: [{ suite: id, share: clientShare.share }] }),
  );
  const sh = encodeRecord(
    RECORD_TYPE.SERVER_HELLO,
    encodeServerHello({ version: PROTOCOL_VERSION, nonce: Buffer.from(v.serverNonce, 'hex'), suite: id, share: serverShare.share }),
  );
  const z = clientShare.computeSecret(serverShare.share);
  const th = transcriptHash(ch, sh);
  const s = deriveSessionSecrets(z, Buffer.from(v.psk, 'hex'), th);
  const cipher = recordCipherOf(id);
  const client = new RecordSealer(cipher, s.clientTraffic);
  const server = new RecordSealer(cipher, s.serverTraffic);
  const clientFirst = join(client.seal(INNER_TYPE.DATA, [Buffer.from(v.clientData, 'utf8')]));
  const serverFirst = join(server.seal(INNER_TYPE.DATA, [Buffer.from(v.serverData, 'utf8')]));
  const keyUpdate = join(client.seal(INNER_TYPE.KEY_UPDATE, []));
  client.update();
  const afterUpdate = join(client.seal(INNER_TYPE.DATA, [Buffer.from(v.clientData, 'utf8')]));
  return {
    clientShare: hex(clientShare.share),
    serverShare: hex(serverShare.share),
    clientHelloRecord: hex(ch),
    serverHelloRecord: hex(sh),
    sharedSecret: hex(z),
    transcriptHash: hex(th),
    secret: hex(s.secret),
    clientPskProof: hex(s.clientPskProof),
    serverPskProof: hex(s.serverPskProof),
    clientTraffic: hex(s.clientTraffic),
    serverTraffic: hex(s.serverTraffic),
    exporter: hex(s.exporter),
    clientSignedContent: hex(signedContent('client', th)),
    clientFirstRecord: clientFirst,
    serverFirstRecord: serverFirst,
    clientKeyUpdateRecord: keyUpdate,
    clientRecordAfterUpdate: afterUpdate,
  };
}
