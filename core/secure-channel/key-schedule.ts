/**
 * Key schedule. All derivations are HKDF-SHA256 (RFC 5869) with node:crypto:
 *
 * ```
 * th        = SHA-256(ClientHello record ‖ ServerHello record)   // headers included
 * secret    = HKDF(ikm = Z, salt = PSK, info = "bitchat-sc1 secret" ‖ th, 32)
 * pskKey_c  = HKDF(secret, "", "bitchat-sc1 c psk", 32);  proof_c = HMAC-SHA256(pskKey_c, th)
 * pskKey_s  = HKDF(secret, "", "bitchat-sc1 s psk", 32);  proof_s = HMAC-SHA256(pskKey_s, th)
 * traffic_c = HKDF(secret, "", "bitchat-sc1 c traffic", 32)   // client -> server
 * traffic_s = HKDF(secret, "", "bitchat-sc1 s traffic", 32)   // server -> client
 * exporter  = HKDF(secret, "", "bitchat-sc1 exporter", 32)
 * next traffic secret after a key update = HKDF(traffic, "", "bitchat-sc1 update", 32)
 * ```
 *
 * The transcript hash covers the version, both nonces, every offered suite with its key
 * share and the chosen suite with the server's share, so the keys (and the PSK proofs
 * and signatures over th) change if any hello byte is altered: downgrade-proof.
 */
import { createHash, createHmac, hkdfSync } from 'node:crypto';
import { HASH_BYTES, LABEL } from './constants.js';

const EMPTY = Buffer.alloc(0);

export function hkdf(ikm: Buffer, salt: Buffer, info: string | Buffer, length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, typeof info === 'string' ? Buffer.from(info, 'ascii') : info, length));
}

/** HKDF from an already uniform secret (empty salt). */
export function expandLabel(secret: Buffer, label: string, length: number = HASH_BYTES): Buffer {
  return hkdf(secret, EMPTY, label, length);
}

export function transcriptHash(clientHelloRecord: Buffer, serverHelloRecord: Buffer): Buffer {
  return createHash('sha256').update(clientHelloRecord).update(serverHelloRecord).digest();
}

export interface SessionSecrets {
  secret: Buffer;
  clientPskProof: Buffer;
  serverPskProof: Buffer;
  clientTraffic: Buffer;
  serverTraffic: Buffer;
  exporter: Buffer;
}

export function deriveSessionSecrets(z: Buffer, psk: Buffer, th: Buffer): SessionSecrets {
  const secret = hkdf(z, psk, Buffer.concat([Buffer.from(LABEL.SECRET, 'ascii'), th]), HASH_BYTES);
  return {
    secret,
    clientPskProof: createHmac('sha256', expandLabel(secret, LABEL.CLIENT_PSK)).update(th).digest(),
    serverPskProof: createHmac('sha256', expandLabel(secret, LABEL.SERVER_PSK)).update(th).digest(),
    clientTraffic: expandLabel(secret, LABEL.CLIENT_TRAFFIC),
    serverTraffic: expandLabel(secret, LABEL.SERVER_TRAFFIC),
    exporter: expandLabel(secret, LABEL.EXPORTER),
  };
}

/** The bytes each side signs: a role label (no reflection), a zero byte, the transcript hash. */
export function signedContent(role: 'client' | 'server', th: Buffer): Buffer {
  const label = role === 'client' ? LABEL.CLIENT_SIGNATURE : LABEL.SERVER_SIGNATURE;
  return Buffer.concat([Buffer.from(label, 'ascii'), Buffer.from([0]), th]);
}

export function nextTrafficSecret(traffic: Buffer): Buffer {
  return expandLabel(traffic, LABEL.UPDATE);
}
