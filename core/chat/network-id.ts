/**
 * Network IDs, network secrets and channel names of chat networks (spec §2, §1.6).
 *
 * Every value is PBKDF2-HMAC-SHA256, 10 000 iterations, 20 bytes; kept byte-exact
 * with the spec (DESIGN §2b "network IDs": no change) so its §2.9 test vectors apply.
 *
 *   HashedEmail(e) = PBKDF2(lower(e), EMAIL_HASH_SALT)
 *   MaskedEmail(e) = PBKDF2(lower(e), EMAIL_MASK_SALT)
 *   group   ID     = PBKDF2(secret or "", lower(name))
 *   group   h1     = PBKDF2(lower(name), NETWORK_SECRET_SALT)
 *   private S      = HashedEmail(a) XOR HashedEmail(b)
 *   private ID     = PBKDF2(secret or "", S)
 *   private h1     = PBKDF2(S, NETWORK_SECRET_SALT)
 *   secret         = PBKDF2(secret or "", h1)
 *   channel name   = HMAC-SHA1(key = networkID, msg = peerIdA XOR peerIdB)
 *
 * "lower" is NFC normalisation then locale-independent `toLowerCase()` (spec §2.8: the
 * original's culture-sensitive lower-casing is not reproducible; NFC + toLowerCase is
 * identical to it for ASCII, which is what the test vectors use).
 */
import { createHmac, pbkdf2 } from 'node:crypto';
import { promisify } from 'node:util';
import { ChatError, ERR_CHAT_BAD_INPUT } from './errors.js';

const pbkdf2Async = promisify(pbkdf2);

export const PBKDF2_ITERATIONS = 10_000;
export const PBKDF2_DIGEST = 'sha256';
/** Length of every derived value, and of network IDs and peer IDs. */
export const DERIVED_LENGTH = 20;
export const EMAIL_HASH_SALT = Buffer.from('49420C52C93C5EB6AD833F08BAD9B96E238FDCF3', 'hex');
export const EMAIL_MASK_SALT = Buffer.from('55BBB85C21B3C334BEF44D9DD0AC8E8AE8ED283E', 'hex');
export const NETWORK_SECRET_SALT = Buffer.from('BB470EE30EADFC36F218F40ADAA42AF2B720F6D2', 'hex');
/** Spec §9.6: e-mail addresses are at most 255 bytes (they travel with a u8 length). */
export const MAX_EMAIL_BYTES = 255;
/** Group names share the e-mail cap so every name fits the same u8-prefixed fields. */
export const MAX_GROUP_NAME_BYTES = 255;
/** Bounds the PBKDF2 input an API caller can hand us. */
export const MAX_SHARED_SECRET_BYTES = 1024;

/** The two values a chat network is keyed by. */
export interface NetworkKeys {
  /** 20 bytes: announced as a BitTorrent info-hash, names the chat. */
  networkId: Buffer;
  /** 20 bytes: the pre-shared key of every secure channel of this chat. */
  networkSecret: Buffer;
}

/** NFC + locale-independent lower case (spec §2.8). */
export function normaliseName(value: string): string {
  return value.normalize('NFC').toLowerCase();
}

/** Lower-cased, NFC-normalised e-mail; throws on anything that is not `user@host` of sane length. */
export function normaliseEmail(email: string): string {
  const e = normaliseName(email.trim());
  const at = e.indexOf('@');
  if (at <= 0 || at === e.length - 1 || e.indexOf('@', at + 1) !== -1) {
    throw new ChatError(ERR_CHAT_BAD_INPUT, 'an e-mail address must look like user@host');
  }
  if (Buffer.byteLength(e, 'utf8') > MAX_EMAIL_BYTES) {
    throw new ChatError(ERR_CHAT_BAD_INPUT, `an e-mail address is at most ${MAX_EMAIL_BYTES} bytes`);
  }
  return e;
}

function normaliseGroupName(name: string): string {
  const n = normaliseName(name);
  if (n.length === 0) throw new ChatError(ERR_CHAT_BAD_INPUT, 'a group name must not be empty');
  if (Buffer.byteLength(n, 'utf8') > MAX_GROUP_NAME_BYTES) {
    throw new ChatError(ERR_CHAT_BAD_INPUT, `a group name is at most ${MAX_GROUP_NAME_BYTES} bytes`);
  }
  return n;
}

function secretBytes(sharedSecret: string | undefined): Buffer {
  const b = Buffer.from(sharedSecret ?? '', 'utf8');
  if (b.length > MAX_SHARED_SECRET_BYTES) {
    throw new ChatError(ERR_CHAT_BAD_INPUT, `a shared secret is at most ${MAX_SHARED_SECRET_BYTES} bytes`);
  }
  return b;
}

/** PBKDF2-HMAC-SHA256, 10 000 iterations, 20 bytes (spec §2). Runs on the libuv pool. */
export function derive(password: Buffer | string, salt: Buffer | string): Promise<Buffer> {
  return pbkdf2Async(password, salt, PBKDF2_ITERATIONS, DERIVED_LENGTH, PBKDF2_DIGEST);
}

function xor20(a: Buffer, b: Buffer): Buffer {
  if (a.length !== DERIVED_LENGTH || b.length !== DERIVED_LENGTH) {
    throw new ChatError(ERR_CHAT_BAD_INPUT, `XOR inputs must be ${DERIVED_LENGTH} bytes`);
  }
  const out = Buffer.allocUnsafe(DERIVED_LENGTH);
  for (let i = 0; i < DERIVED_LENGTH; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** HashedEmail(e): the per-user value private chats are keyed by, and invitations are sent under. */
export function hashedEmail(email: string): Promise<Buffer> {
  return derive(Buffer.from(normaliseEmail(email), 'utf8'), EMAIL_HASH_SALT);
}

/** MaskedEmail(e): what an invitee announces on the DHT to be found (spec §2.6). */
export function maskedEmail(email: string): Promise<Buffer> {
  return derive(Buffer.from(normaliseEmail(email), 'utf8'), EMAIL_MASK_SALT);
}

/** Network ID and secret of a group chat: name is the salt, the shared secret the password. */
export async function deriveGroupKeys(groupName: string, sharedSecret?: string): Promise<NetworkKeys> {
  const name = Buffer.from(normaliseGroupName(groupName), 'utf8');
  const secret = secretBytes(sharedSecret);
  const [networkId, h1] = await Promise.all([derive(secret, name), derive(name, NETWORK_SECRET_SALT)]);
  return { networkId, networkSecret: await derive(secret, h1) };
}

/** S = HashedEmail(a) XOR HashedEmail(b): symmetric, so both ends derive the same chat. */
export async function privateChatSalt(emailA: string, emailB: string): Promise<Buffer> {
  const [a, b] = await Promise.all([hashedEmail(emailA), hashedEmail(emailB)]);
  return xor20(a, b);
}

/**
 * Network ID and secret of a private chat from a precomputed salt S; the invitation
 * path (spec §2.6) has HashedEmail(sender) but not the sender's e-mail.
 */
export async function derivePrivateKeysFromSalt(salt: Buffer, sharedSecret?: string): Promise<NetworkKeys> {
  if (salt.length !== DERIVED_LENGTH) throw new ChatError(ERR_CHAT_BAD_INPUT, 'private chat salt must be 20 bytes');
  const secret = secretBytes(sharedSecret);
  const [networkId, h1] = await Promise.all([derive(secret, salt), derive(salt, NETWORK_SECRET_SALT)]);
  return { networkId, networkSecret: await derive(secret, h1) };
}

/** Network ID and secret of a private chat between two e-mail addresses (order does not matter). */
export async function derivePrivateKeys(emailA: string, emailB: string, sharedSecret?: string): Promise<NetworkKeys> {
  return derivePrivateKeysFromSalt(await privateChatSalt(emailA, emailB), sharedSecret);
}

/** Spec §1.6: the 20-byte virtual channel name of a chat on one connection; equal on both ends. */
export function channelName(networkId: Buffer, peerIdA: Buffer, peerIdB: Buffer): Buffer {
  if (networkId.length !== DERIVED_LENGTH) throw new ChatError(ERR_CHAT_BAD_INPUT, 'network ID must be 20 bytes');
  return createHmac('sha1', networkId).update(xor20(peerIdA, peerIdB)).digest();
}
