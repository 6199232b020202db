/**
 * Message bodies at rest: AES-256-GCM under the profile's history key.
 *
 * | off | size | field                          |
 * | --- | ---- | ------------------------------ |
 * | 0   | 1    | version = 1                    |
 * | 1   | 12   | nonce (random per seal)        |
 * | 13  | n    | ciphertext                     |
 * | 13+n| 16   | GCM tag                        |
 *
 * AAD = "bitchat/history/v1" ‖ networkId (20) ‖ messageId (16) ‖ u8 type: a row copied
 * into another chat, under another ID or type fails authentication. A random 96-bit
 * nonce is safe for far more than the 2^32 messages one key could ever see here.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ChatError, ERR_CHAT_BAD_INPUT, ERR_CHAT_STORE_CORRUPT } from './errors.js';

export const SEALED_VERSION = 1;
export const HISTORY_KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const AAD_LABEL = Buffer.from('bitchat/history/v1', 'ascii');
export const SEALED_OVERHEAD = 1 + NONCE_BYTES + TAG_BYTES;

export function checkHistoryKey(key: Buffer): void {
  if (key.length !== HISTORY_KEY_BYTES) throw new ChatError(ERR_CHAT_BAD_INPUT, `the history key is ${HISTORY_KEY_BYTES} bytes`);
}

function aad(networkId: Buffer, messageId: Buffer, type: number): Buffer {
  return Buffer.concat([AAD_LABEL, networkId, messageId, Buffer.from([type & 0xff])]);
}

export function sealBody(key: Buffer, networkId: Buffer, messageId: Buffer, type: number, plaintext: Buffer): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(aad(networkId, messageId, type));
  const body = c.update(plaintext);
  const fin = c.final();
  return Buffer.concat([Buffer.from([SEALED_VERSION]), nonce, body, fin, c.getAuthTag()]);
}

export function openBody(key: Buffer, networkId: Buffer, messageId: Buffer, type: number, sealed: Buffer): Buffer {
  if (sealed.length < SEALED_OVERHEAD || sealed[0] !== SEALED_VERSION) {
    throw new ChatError(ERR_CHAT_STORE_CORRUPT, 'stored message body is malformed');
  }
  const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(1, 1 + NONCE_BYTES));
  d.setAAD(aad(networkId, messageId, type));
  d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  try {
    return Buffer.concat([d.update(sealed.subarray(1 + NONCE_BYTES, sealed.length - TAG_BYTES)), d.final()]);
  } catch (cause) {
    throw new ChatError(ERR_CHAT_STORE_CORRUPT, 'stored message body failed authentication (wrong key or tampered row)', { cause });
  }
}
