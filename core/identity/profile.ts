import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createSelfIssuedCertificate, parseCertificate, type CertificateInfo, type SubjectProfile } from './certificate.js';
import { IdentityError } from './errors.js';
import { safetyNumber } from './fingerprint.js';
import { assertRsaKey, exportPrivateKeyPem, generateRsaKeyPair, samePublicKey, type RsaKeyPair } from './keys.js';
import { PinStore, type PinStoreData } from './pins.js';
import { MAX_PAYLOAD_BYTES, openProfile, sealProfile, writeFileAtomic, type SaveStage } from './profile-file.js';
import type { ProgressHook } from './progress.js';
import { createCertificateVerifier, type CertificateVerifier, type CertificateVerifierOptions } from './verifier.js';

const PAYLOAD_FORMAT = 'bitchat-profile';
const PAYLOAD_VERSION = 1;
/** A profile file bigger than this is not one of ours (header + 16 MiB payload + tag). */
const MAX_FILE_BYTES = MAX_PAYLOAD_BYTES + 1024;

/** How the identity is vouched for: by a CA after e-mail verification, or by the key itself (pinned by peers). */
export type ProfileKind = 'ca' | 'self';

/** JSON inside the encrypted container (see docs/protocol/identity.md). */
interface ProfilePayload {
  format: typeof PAYLOAD_FORMAT;
  version: typeof PAYLOAD_VERSION;
  kind: ProfileKind;
  privateKey: string;
  certificates: string[];
  trustedRoots: string[];
  pins: PinStoreData;
  settings: Record<string, unknown>;
  staple?: string;
  caUrl?: string;
}

/** The unlocked profile: own key and certificate chain, trust anchors, pins, settings. */
export class Profile {
  kind: ProfileKind;
  readonly privateKey: KeyObject;
  /** DER, leaf first (what the secure channel sends). */
  certificateChain: Buffer[];
  trustedRoots: Buffer[];
  readonly pins: PinStore;
  settings: Record<string, unknown>;
  /** Latest signed revocation status of the own certificate (stapled in handshakes). */
  staple: Buffer | undefined;
  /** The CA that issued the certificate (for refreshing the staple). */
  caUrl: string | undefined;

  constructor(init: {
    kind: ProfileKind;
    privateKey: KeyObject;
    certificateChain: Buffer[];
    trustedRoots?: Buffer[];
    pins?: PinStore;
    settings?: Record<string, unknown>;
    staple?: Buffer;
    caUrl?: string;
  }) {
    assertRsaKey(init.privateKey);
    this.kind = init.kind;
    this.privateKey = init.privateKey;
    this.certificateChain = init.certificateChain;
    this.trustedRoots = init.trustedRoots ?? [];
    this.pins = init.pins ?? new PinStore();
    this.settings = init.settings ?? {};
    this.staple = init.staple;
    this.caUrl = init.caUrl;
    const leaf = this.leaf;
    if (!samePublicKey(leaf.publicKey, this.privateKey)) throw new IdentityError('ERR_KEY_MISMATCH', 'the certificate does not belong to the private key');
  }

  /** A registration-free profile: new (or imported) RSA key and a self-signed certificate. */
  static async createSelfIssued(opts: { subject: SubjectProfile; keyPair?: RsaKeyPair; bits?: number; onProgress?: ProgressHook; settings?: Record<string, unknown> }): Promise<Profile> {
    const keys = opts.keyPair ?? (await generateRsaKeyPair({ ...(opts.bits !== undefined ? { bits: opts.bits } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) }));
    const cert = createSelfIssuedCertificate({ privateKey: keys.privateKey, profile: opts.subject });
    return new Profile({ kind: 'self', privateKey: keys.privateKey, certificateChain: [cert], ...(opts.settings ? { settings: opts.settings } : {}) });
  }

  get leaf(): CertificateInfo {
    return parseCertificate(this.certificateChain[0]!);
  }

  get publicKey(): KeyObject {
    return createPublicKey(this.privateKey);
  }

  get email(): string {
    return this.leaf.email ?? '';
  }

  get safetyNumber(): string {
    return safetyNumber(this.publicKey, this.email);
  }

  /**
   * Replaces the certificate with one a CA issued for this key (checks that it
   * is for our key and e-mail first) and trusts the CA's root.
   */
  adoptCaCertificate(chain: Buffer[], root: Buffer, caUrl?: string): void {
    const leaf = parseCertificate(chain[0]!);
    if (!samePublicKey(leaf.publicKey, this.privateKey)) throw new IdentityError('ERR_KEY_MISMATCH', 'the CA issued a certificate for another key');
    if (this.leaf.email !== null && leaf.email?.toLowerCase() !== this.leaf.email.toLowerCase()) {
      throw new IdentityError('ERR_KEY_MISMATCH', `the CA issued a certificate for ${leaf.email ?? 'no address'}, not ${this.leaf.email}`);
    }
    this.kind = 'ca';
    this.certificateChain = chain;
    if (!this.trustedRoots.some((r) => r.equals(root))) this.trustedRoots.push(root);
    this.staple = undefined;
    this.caUrl = caUrl;
  }

  /** A verifier for peers with this profile's roots and pins. */
  createVerifier(options: Partial<CertificateVerifierOptions> = {}): CertificateVerifier {
    return createCertificateVerifier({ mode: 'either', trustedRoots: this.trustedRoots, pins: this.pins, ...options });
  }

  encodePayload(): Buffer {
    const payload: ProfilePayload = {
      format: PAYLOAD_FORMAT,
      version: PAYLOAD_VERSION,
      kind: this.kind,
      privateKey: exportPrivateKeyPem(this.privateKey),
      certificates: this.certificateChain.map((c) => c.toString('base64')),
      trustedRoots: this.trustedRoots.map((c) => c.toString('base64')),
      pins: this.pins.toJSON(),
      settings: this.settings,
      ...(this.staple !== undefined ? { staple: this.staple.toString('base64') } : {}),
      ...(this.caUrl !== undefined ? { caUrl: this.caUrl } : {}),
    };
    return Buffer.from(JSON.stringify(payload), 'utf8');
  }

  static decodePayload(buf: Buffer): Profile {
    const bad = (why: string, cause?: unknown): never => {
      throw new IdentityError('ERR_PROFILE_MALFORMED', `profile payload: ${why}`, cause === undefined ? undefined : { cause });
    };
    let p: Partial<ProfilePayload>;
    try {
      p = JSON.parse(buf.toString('utf8')) as Partial<ProfilePayload>;
    } catch (err) {
      return bad('not JSON', err);
    }
    if (typeof p !== 'object' || p === null || p.format !== PAYLOAD_FORMAT) bad('unknown format');
    if (p.version !== PAYLOAD_VERSION) throw new IdentityError('ERR_PROFILE_UNSUPPORTED', `profile payload version ${String(p.version)} is not supported`);
    if (p.kind !== 'ca' && p.kind !== 'self') bad('bad kind');
    const isB64List = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
    if (typeof p.privateKey !== 'string' || !isB64List(p.certificates) || p.certificates.length === 0 || !isB64List(p.trustedRoots)) bad('missing key or certificates');
    const pins = p.pins ?? { pins: [], pending: [] };
    if (!Array.isArray(pins.pins) || !Array.isArray(pins.pending)) bad('bad pins');
    if (typeof p.settings !== 'object' || p.settings === null || Array.isArray(p.settings)) bad('bad settings');
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey({ key: p.privateKey!, format: 'pem' });
    } catch (err) {
      return bad('private key not readable', err);
    }
    return new Profile({
      kind: p.kind!,
      privateKey,
      certificateChain: p.certificates!.map((c) => Buffer.from(c, 'base64')),
      trustedRoots: p.trustedRoots!.map((c) => Buffer.from(c, 'base64')),
      pins: new PinStore(pins),
      settings: p.settings!,
      ...(typeof p.staple === 'string' ? { staple: Buffer.from(p.staple, 'base64') } : {}),
      ...(typeof p.caUrl === 'string' ? { caUrl: p.caUrl } : {}),
    });
  }
}

export interface SaveProfileOptions {
  iterations?: number;
  onProgress?: ProgressHook;
  onStage?: (stage: SaveStage) => void | Promise<void>;
}

/** Seals and atomically writes the profile (fresh salt and nonce every time). */
export async function saveProfile(path: string, profile: Profile, password: string, options: SaveProfileOptions = {}): Promise<void> {
  const sealed = await sealProfile(profile.encodePayload(), password, {
    ...(options.iterations !== undefined ? { iterations: options.iterations } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  await writeFileAtomic(path, sealed, options.onStage);
  profile.pins.dirty = false;
}

/** Reads, decrypts and parses a profile file. */
export async function loadProfile(path: string, password: string, options: { onProgress?: ProgressHook } = {}): Promise<Profile> {
  const info = await stat(path);
  if (info.size > MAX_FILE_BYTES) throw new IdentityError('ERR_PROFILE_MALFORMED', 'file is too large to be a profile');
  const file = await readFile(path);
  const payload = await openProfile(file, password, options);
  try {
    return Profile.decodePayload(payload);
  } finally {
    payload.fill(0);
  }
}
