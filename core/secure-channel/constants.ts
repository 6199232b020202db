/**
 * Wire constants of the secure channel (protocol version 1 of our design; see
 * docs/protocol/secure-channel.md). Numbers here are part of the wire format.
 */

/** Four ASCII bytes that open every ClientHello, so garbage is told apart from an old version. */
export const HELLO_MAGIC = Buffer.from('BCSC', 'ascii');
/** The only protocol version this code speaks; it is in the signed transcript. */
export const PROTOCOL_VERSION = 1;
export const NONCE_BYTES = 32;
export const HASH_BYTES = 32;

/** Record header: `u8 type ‖ u16 BE body length`. */
export const RECORD_HEADER_BYTES = 3;
export const RECORD_TYPE = Object.freeze({
  CLIENT_HELLO: 0x01,
  SERVER_HELLO: 0x02,
  PSK_PROOF: 0x03,
  ALERT: 0x15,
  ENCRYPTED: 0x17,
});

/** Last byte of every decrypted record. */
export const INNER_TYPE = Object.freeze({
  DATA: 0x00,
  IDENTITY: 0x01,
  KEY_UPDATE: 0x02,
  CLOSE: 0x03,
  ALERT: 0x04,
});

/**
 * Application bytes per record. Chosen so the largest wire record (CBC: 3 + 16 IV +
 * 65 296 padded ciphertext + 32 MAC = 65 347 bytes) stays below 64 KiB - 53, where
 * loopback TCP has its slow case (STACK.md).
 */
export const MAX_RECORD_PAYLOAD = 65_280;
/** Largest encrypted record body any suite produces for MAX_RECORD_PAYLOAD. */
export const MAX_ENCRYPTED_BODY = 16 + (Math.floor((MAX_RECORD_PAYLOAD + 1) / 16) + 1) * 16 + 32;
/** Cleartext handshake records are small: a ClientHello with all three key shares is ~400 bytes. */
export const MAX_PLAIN_BODY = 1024;

export const MAX_CHAIN_LENGTH = 8;
export const MIN_RSA_BITS = 2048;

/** Records the handshake may hold for later before it stops reading the stream. */
export const MAX_EARLY_RECORDS = 64;

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
export const DEFAULT_REKEY_AFTER_BYTES = 100 * 1024 * 1024;
export const DEFAULT_REKEY_AFTER_MS = 60 * 60 * 1000;
/** After sending an alert or close, how long to wait for the peer before destroying the stream. */
export const CLOSE_LINGER_MS = 1_000;

/** HKDF labels (ASCII). Changing one changes every key: they are in the test vectors. */
export const LABEL = Object.freeze({
  SECRET: 'bitchat-sc1 secret',
  CLIENT_PSK: 'bitchat-sc1 c psk',
  SERVER_PSK: 'bitchat-sc1 s psk',
  CLIENT_TRAFFIC: 'bitchat-sc1 c traffic',
  SERVER_TRAFFIC: 'bitchat-sc1 s traffic',
  EXPORTER: 'bitchat-sc1 exporter',
  KEY: 'bitchat-sc1 key',
  IV: 'bitchat-sc1 iv',
  MAC: 'bitchat-sc1 mac',
  UPDATE: 'bitchat-sc1 update',
  CLIENT_SIGNATURE: 'bitchat-sc1 client signature',
  SERVER_SIGNATURE: 'bitchat-sc1 server signature',
});

/**
 * Alert codes (`u8`), numbered as in the original protocol where the meaning is the
 * same (spec §3.8), so logs from both read alike. The original's 4 (declined) and 6
 * (certificate algorithm) are folded into 5 and not sent.
 */
export const ALERT = Object.freeze({
  VERSION: 2,
  NO_COMMON_SUITE: 3,
  BAD_CERTIFICATE: 5,
  BAD_SIGNATURE: 7,
  BAD_MAC: 8,
  BAD_PSK: 9,
  PROTOCOL: 10,
  TIMEOUT: 11,
  INTERNAL: 254,
});
