import { createHash, createPublicKey, randomBytes, randomInt, timingSafeEqual, type KeyObject } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import forge from 'node-forge';
import { certificateToPem, checkSubjectProfile, certificatesFromPem, createCaCertificate, issueUserCertificate, parseCertificate, type CertificateInfo, type SubjectProfile } from '../certificate.js';
import { IdentityError } from '../errors.js';
import { assertRsaKey, exportPrivateKeyPem, generateRsaKeyPair, importRsaPrivateKeyPem } from '../keys.js';
import type { ProgressHook } from '../progress.js';
import { signRevocationStatus } from '../revocation.js';
import { CA_CERT_FILE, CA_CONFIG_FILE, CA_DB_FILE, CA_KEY_FILE, readCaConfig, type CaConfig } from './config.js';
import { CaStore, type CertificateRow } from './store.js';

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;
const CODE_DIGITS = 8;
const MAX_PEM_BYTES = 16 * 1024;

/** What a client sends to register: the key as a CSR (proves possession) or a bare public key. */
export interface RegistrationRequest extends SubjectProfile {
  csr?: string;
  publicKey?: string;
}

export interface IssuedCertificate {
  serial: string;
  certificate: Buffer;
  /** Leaf first, then the CA root. */
  chain: Buffer[];
  /** Earlier certificates for the same address, revoked by this registration. */
  revoked: string[];
}

function codeHash(requestId: string, code: string): Buffer {
  return createHash('sha256').update(`${requestId}:${code}`).digest();
}

function publicKeyFromRequest(req: RegistrationRequest): KeyObject {
  if (typeof req.csr === 'string') {
    if (req.csr.length > MAX_PEM_BYTES) throw new IdentityError('ERR_CA_BAD_CSR', 'CSR too large');
    let csr: forge.pki.CertificateSigningRequest;
    try {
      csr = forge.pki.certificationRequestFromPem(req.csr);
    } catch (err) {
      throw new IdentityError('ERR_CA_BAD_CSR', 'not a readable RSA certificate request', { cause: err });
    }
    // The CSR signature proves the requester holds the private key.
    let verified = false;
    try {
      verified = csr.verify();
    } catch {
      verified = false;
    }
    if (!verified) throw new IdentityError('ERR_CA_BAD_CSR', 'certificate request signature does not verify');
    const key = createPublicKey(forge.pki.publicKeyToPem(csr.publicKey as forge.pki.rsa.PublicKey));
    assertRsaKey(key);
    return key;
  }
  if (typeof req.publicKey === 'string') {
    if (req.publicKey.length > MAX_PEM_BYTES) throw new IdentityError('ERR_CA_BAD_REQUEST', 'public key too large');
    let key: KeyObject;
    try {
      key = createPublicKey(req.publicKey);
    } catch (err) {
      throw new IdentityError('ERR_CA_BAD_REQUEST', 'not a readable public key', { cause: err });
    }
    assertRsaKey(key);
    return key;
  }
  throw new IdentityError('ERR_CA_BAD_REQUEST', 'a csr or publicKey (PEM) is required');
}

function normEmail(email: unknown): string {
  if (typeof email !== 'string') throw new IdentityError('ERR_CA_BAD_REQUEST', 'email is required');
  return email.trim().toLowerCase();
}

/**
 * A certification authority: its key, root certificate, configuration and
 * SQLite state. Issues certificates after e-mail verification, revokes the
 * previous certificate of an address on re-registration, signs revocation status.
 */
export class CertificateAuthority {
  readonly stats = { requests: 0, rateLimited: 0, wrongCodes: 0, issued: 0, revoked: 0, statuses: 0 };
  readonly root: CertificateInfo;

  private constructor(
    readonly dir: string,
    readonly config: CaConfig,
    private readonly key: KeyObject,
    rootDer: Buffer,
    private readonly store: CaStore,
    private readonly clock: () => number,
  ) {
    this.root = parseCertificate(rootDer);
  }

  /** Creates a CA folder: key (0600), root certificate, config, empty database. Refuses an existing one. */
  static async init(dir: string, config: CaConfig, options: { bits?: number; keyPem?: string; passphrase?: string; onProgress?: ProgressHook } = {}): Promise<CertificateAuthority> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const exists = await stat(join(dir, CA_KEY_FILE)).then(() => true, () => false);
    if (exists) throw new IdentityError('ERR_PROFILE_EXISTS', `a CA already exists in ${dir}`);
    const keys = options.keyPem !== undefined
      ? importRsaPrivateKeyPem(options.keyPem)
      : await generateRsaKeyPair({ ...(options.bits !== undefined ? { bits: options.bits } : {}), ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
    const root = createCaCertificate({ privateKey: keys.privateKey, name: config.name });
    // With a passphrase the key is PKCS#8 encrypted (PBES2, AES-256-CBC): a copied folder does not give away the CA.
    const keyPem = options.passphrase !== undefined
      ? (keys.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: options.passphrase }) as string)
      : exportPrivateKeyPem(keys.privateKey);
    await writeFile(join(dir, CA_KEY_FILE), keyPem, { mode: 0o600, flag: 'wx' });
    await writeFile(join(dir, CA_CERT_FILE), certificateToPem(root), { flag: 'wx' });
    await writeFile(join(dir, CA_CONFIG_FILE), JSON.stringify(config, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
    return CertificateAuthority.open(dir, options.passphrase !== undefined ? { passphrase: options.passphrase } : {});
  }

  static async open(dir: string, options: { now?: () => number; passphrase?: string } = {}): Promise<CertificateAuthority> {
    const config = await readCaConfig(dir);
    const keyPem = await readFile(join(dir, CA_KEY_FILE), 'utf8');
    const rootDer = certificatesFromPem(await readFile(join(dir, CA_CERT_FILE), 'utf8'))[0];
    if (rootDer === undefined) throw new IdentityError('ERR_CA_NOT_INITIALISED', `no certificate in ${join(dir, CA_CERT_FILE)}`);
    if (keyPem.includes('ENCRYPTED') && options.passphrase === undefined) throw new IdentityError('ERR_KEY_MALFORMED', 'the CA key is encrypted: give its passphrase (--passphrase-file)');
    const { privateKey } = importRsaPrivateKeyPem(keyPem, options.passphrase);
    return new CertificateAuthority(dir, config, privateKey, rootDer, new CaStore(join(dir, CA_DB_FILE)), options.now ?? Date.now);
  }

  /**
   * Records a registration and returns the code to e-mail. Rate limits count
   * every request (also failed ones) per address and per IP over the last hour.
   */
  createRequest(req: RegistrationRequest, ip: string): { requestId: string; code: string; expiresAt: number; email: string } {
    const now = this.clock();
    const email = normEmail(req.email);
    const profile: SubjectProfile = { name: req.name, email, ...(req.location !== undefined ? { location: req.location } : {}), ...(req.website !== undefined ? { website: req.website } : {}) };
    const publicKey = publicKeyFromRequest(req);
    // Checks name/e-mail/website formats without signing anything.
    checkSubjectProfile(profile);
    const { perAddressPerHour, perIpPerHour, codeTtlMs } = this.config.limits;
    if (this.store.countRequestsByEmail(email, now - HOUR_MS) >= perAddressPerHour || this.store.countRequestsByIp(ip, now - HOUR_MS) >= perIpPerHour) {
      this.stats.rateLimited++;
      throw new IdentityError('ERR_CA_RATE_LIMITED', 'too many registration requests, try again later');
    }
    const requestId = randomBytes(16).toString('hex');
    const code = String(randomInt(0, 10 ** CODE_DIGITS)).padStart(CODE_DIGITS, '0');
    const expiresAt = now + codeTtlMs;
    this.store.insertRequest({
      id: requestId,
      email,
      name: profile.name,
      location: profile.location ?? null,
      website: profile.website ?? null,
      public_key: publicKey.export({ type: 'spki', format: 'der' }),
      code_hash: codeHash(requestId, code),
      ip,
      created_at: now,
      expires_at: expiresAt,
    });
    this.stats.requests++;
    return { requestId, code, expiresAt, email };
  }

  /** The mail could not be sent: the request can never complete. */
  failRequest(requestId: string): void {
    this.store.setRequestState(requestId, 'failed');
  }

  /** Checks the e-mailed code (limited tries) and issues the certificate. */
  verifyRequest(requestId: string, code: string): IssuedCertificate {
    const row = typeof requestId === 'string' ? this.store.getRequest(requestId) : undefined;
    if (row === undefined) throw new IdentityError('ERR_CA_UNKNOWN_REQUEST', 'no such registration request');
    if (row.state === 'issued') throw new IdentityError('ERR_CA_UNKNOWN_REQUEST', 'this request was already completed');
    if (row.state === 'failed' || row.tries >= this.config.limits.maxTries) throw new IdentityError('ERR_CA_TOO_MANY_TRIES', 'this request is closed; register again');
    if (this.clock() > row.expires_at) throw new IdentityError('ERR_CA_REQUEST_EXPIRED', 'the verification code expired; register again');
    const given = typeof code === 'string' ? code.trim() : '';
    if (!timingSafeEqual(codeHash(row.id, given), row.code_hash)) {
      this.stats.wrongCodes++;
      const tries = this.store.addTry(row.id);
      const left = this.config.limits.maxTries - tries;
      if (left <= 0) {
        this.store.setRequestState(row.id, 'failed');
        throw new IdentityError('ERR_CA_TOO_MANY_TRIES', 'wrong code, no tries left; register again');
      }
      throw Object.assign(new IdentityError('ERR_CA_WRONG_CODE', `wrong code, ${left} tries left`), { triesLeft: left });
    }
    const profile: SubjectProfile = {
      name: row.name,
      email: row.email,
      ...(row.location !== null ? { location: row.location } : {}),
      ...(row.website !== null ? { website: row.website } : {}),
    };
    return this.issue(createPublicKey({ key: row.public_key, format: 'der', type: 'spki' }), profile, row.id);
  }

  /**
   * Issues without e-mail verification (the operator vouches: `bitchat ca
   * issue`). Revokes earlier certificates for the address like a registration.
   */
  issue(publicKey: KeyObject, profile: SubjectProfile, requestId: string | null = null): IssuedCertificate {
    const now = this.clock();
    const email = normEmail(profile.email);
    const der = issueUserCertificate({
      issuerCert: this.root.der,
      issuerKey: this.key,
      subjectPublicKey: publicKey,
      profile: { ...profile, email },
      notBefore: new Date(now - 60_000),
      notAfter: new Date(Math.min(now + this.config.certDays * DAY_MS, this.root.notAfter.getTime())),
    });
    const info = parseCertificate(der);
    const revoked = this.store.recordIssued(
      { serial: info.serial, email, name: profile.name, der, issued_at: now, not_after: info.notAfter.getTime() },
      requestId,
    );
    this.stats.issued++;
    this.stats.revoked += revoked.length;
    return { serial: info.serial, certificate: der, chain: [der, this.root.der], revoked };
  }

  revoke(serial: string, reason = 'unspecified'): boolean {
    const ok = this.store.revoke(serial.toLowerCase(), reason, this.clock());
    if (ok) this.stats.revoked++;
    return ok;
  }

  /** A freshly signed revocation status for a serial this CA issued. */
  status(serial: string): Buffer {
    const row = /^[0-9a-f]{2,40}$/i.test(serial) ? this.store.getCertificate(serial.toLowerCase()) : undefined;
    if (row === undefined) throw new IdentityError('ERR_CA_UNKNOWN_SERIAL', `no certificate with serial ${serial.slice(0, 40)}`);
    this.stats.statuses++;
    return signRevocationStatus({
      status: row.revoked_at === null ? 'good' : 'revoked',
      serial: row.serial,
      producedAt: this.clock(),
      ...(row.revoked_at !== null ? { revokedAt: row.revoked_at } : {}),
      issuerKey: this.key,
      issuerCertificate: this.root,
    });
  }

  list(): Omit<CertificateRow, 'der'>[] {
    return this.store.listCertificates();
  }

  close(): void {
    this.store.close();
  }
}
