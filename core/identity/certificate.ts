/**
 * Profile certificates: X.509 v3, built with node-forge (structure) and signed
 * with node:crypto (forge's pure-JS RSA is slow), read with node:crypto's
 * X509Certificate (signature, key) plus forge (extensions, names).
 *
 * Profile (see docs/protocol/identity.md):
 * | field | user / self-issued | CA |
 * | --- | --- | --- |
 * | subject | CN = name, L = location (optional) | CN = CA name |
 * | subjectAltName | rfc822Name = e-mail, URI = website (optional) | - |
 * | basicConstraints (critical) | cA = false | cA = true |
 * | keyUsage (critical) | digitalSignature, keyEncipherment (+ keyCertSign for self-issued: it signs itself) | keyCertSign, cRLSign, digitalSignature |
 * | extKeyUsage | clientAuth, serverAuth, emailProtection | - |
 * | subjectKeyIdentifier / authorityKeyIdentifier | yes | yes |
 * | signature | sha256WithRSAEncryption | sha256WithRSAEncryption |
 */
import { X509Certificate, createPublicKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { CA_CERT_DAYS, MAX_CERT_BYTES, MIN_RSA_BITS, SELF_CERT_DAYS, SERIAL_BYTES, USER_CERT_DAYS } from './constants.js';
import { IdentityError } from './errors.js';
import { assertRsaKey, exportPublicKeyPem } from './keys.js';
import { keyFingerprintHex } from './fingerprint.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Backdate notBefore a little so a peer whose clock is slightly behind accepts a fresh certificate. */
const BACKDATE_MS = 60 * 1000;
const EMAIL_PATTERN = /^[^\s@<>()[\],;:"]{1,64}@[^\s@<>()[\],;:"]{1,255}$/;
const MAX_NAME_LENGTH = 200;

/** What a profile says about its owner. */
export interface SubjectProfile {
  /** Display name (certificate CN). */
  name: string;
  /** E-mail address (SAN rfc822Name); verified by the CA for CA-issued certificates. */
  email: string;
  /** Free-form location, e.g. "Berlin, DE" (subject L). */
  location?: string;
  /** Absolute http(s) URL (SAN URI). */
  website?: string;
}

/** The fields of a parsed certificate that callers use. */
export interface CertificateInfo {
  der: Buffer;
  x509: X509Certificate;
  /** Lowercase hex without leading zeros stripped (as encoded). */
  serial: string;
  name: string;
  email: string | null;
  location: string | null;
  website: string | null;
  isCA: boolean;
  keyCertSign: boolean;
  notBefore: Date;
  notAfter: Date;
  publicKey: KeyObject;
  /** SHA-256 of the SubjectPublicKeyInfo, hex. */
  fingerprint: string;
  /** Subject and issuer distinguished names are byte-equal. */
  selfIssued: boolean;
}

interface BuildOptions {
  subjectPublicKey: KeyObject;
  subjectAttrs: forge.pki.CertificateField[];
  issuerAttrs: forge.pki.CertificateField[];
  issuerKey: KeyObject;
  /** Issuer's subjectKeyIdentifier as hex, for authorityKeyIdentifier; omitted for self-signed. */
  authorityKeyId?: string;
  extensions: object[];
  notBefore: Date;
  notAfter: Date;
  serial?: string;
}

/** A fresh positive random serial as hex. */
export function randomSerial(): string {
  const bytes = randomBytes(SERIAL_BYTES);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex');
}

/** Throws ERR_CA_BAD_REQUEST unless name, e-mail, location and website are well-formed. */
export function checkSubjectProfile(profile: SubjectProfile): void {
  if (typeof profile.name !== 'string' || profile.name.trim() === '' || profile.name.length > MAX_NAME_LENGTH) {
    throw new IdentityError('ERR_CA_BAD_REQUEST', 'a name of 1..200 characters is required');
  }
  if (typeof profile.email !== 'string' || !EMAIL_PATTERN.test(profile.email)) {
    throw new IdentityError('ERR_CA_BAD_REQUEST', `not an e-mail address: ${String(profile.email).slice(0, 80)}`);
  }
  if (profile.location !== undefined && (typeof profile.location !== 'string' || profile.location.length > MAX_NAME_LENGTH)) {
    throw new IdentityError('ERR_CA_BAD_REQUEST', 'location must be a string of at most 200 characters');
  }
  if (profile.website !== undefined) {
    let ok = false;
    try {
      const url = new URL(profile.website);
      ok = url.protocol === 'https:' || url.protocol === 'http:';
    } catch {
      ok = false;
    }
    if (!ok) throw new IdentityError('ERR_CA_BAD_REQUEST', 'website must be an absolute http(s) URL');
  }
}

function utf8Attr(name: string, value: string): forge.pki.CertificateField {
  return { name, value, valueTagClass: forge.asn1.Type.UTF8 as unknown as forge.asn1.Class } as forge.pki.CertificateField;
}

function profileAttrs(profile: SubjectProfile): forge.pki.CertificateField[] {
  const attrs = [utf8Attr('commonName', profile.name)];
  if (profile.location !== undefined) attrs.push(utf8Attr('localityName', profile.location));
  return attrs;
}

function profileAltNames(profile: SubjectProfile): object {
  const altNames: { type: number; value: string }[] = [{ type: 1, value: profile.email }];
  if (profile.website !== undefined) altNames.push({ type: 6, value: profile.website });
  return { name: 'subjectAltName', altNames };
}

function toForgePublicKey(key: KeyObject): forge.pki.rsa.PublicKey {
  return forge.pki.publicKeyFromPem(exportPublicKeyPem(key));
}

function buildCertificate(opts: BuildOptions): Buffer {
  assertRsaKey(opts.subjectPublicKey);
  assertRsaKey(opts.issuerKey);
  const cert = forge.pki.createCertificate();
  cert.publicKey = toForgePublicKey(opts.subjectPublicKey);
  cert.serialNumber = opts.serial ?? randomSerial();
  cert.validity.notBefore = opts.notBefore;
  cert.validity.notAfter = opts.notAfter;
  cert.setSubject(opts.subjectAttrs);
  cert.setIssuer(opts.issuerAttrs);
  const extensions = [...opts.extensions, { name: 'subjectKeyIdentifier' }];
  if (opts.authorityKeyId !== undefined) {
    extensions.push({ name: 'authorityKeyIdentifier', keyIdentifier: forge.util.hexToBytes(opts.authorityKeyId) } as object);
  }
  cert.setExtensions(extensions);
  // forge's cert.sign would do the RSA private operation in JavaScript: hand it a
  // key whose sign() signs the freshly built TBS bytes with node:crypto instead.
  const nativeSigner = {
    sign: (): string => {
      const tbsAsn1 = (cert as unknown as { tbsCertificate: forge.asn1.Asn1 }).tbsCertificate;
      const tbs = Buffer.from(forge.asn1.toDer(tbsAsn1).getBytes(), 'binary');
      return sign('sha256', tbs, opts.issuerKey).toString('binary');
    },
  };
  cert.sign(nativeSigner as unknown as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');
}

function validity(days: number, notBefore?: Date, notAfter?: Date): { notBefore: Date; notAfter: Date } {
  const start = notBefore ?? new Date(Date.now() - BACKDATE_MS);
  return { notBefore: start, notAfter: notAfter ?? new Date(start.getTime() + days * DAY_MS) };
}

const USER_EXTENSIONS = [
  { name: 'basicConstraints', cA: false, critical: true },
  { name: 'extKeyUsage', clientAuth: true, serverAuth: true, emailProtection: true },
];

/** A self-issued (self-signed) profile certificate: no registration, verified by fingerprint. */
export function createSelfIssuedCertificate(opts: {
  privateKey: KeyObject;
  profile: SubjectProfile;
  days?: number;
  notBefore?: Date;
  notAfter?: Date;
}): Buffer {
  checkSubjectProfile(opts.profile);
  const attrs = profileAttrs(opts.profile);
  return buildCertificate({
    subjectPublicKey: createPublicKey(opts.privateKey),
    subjectAttrs: attrs,
    issuerAttrs: attrs,
    issuerKey: opts.privateKey,
    extensions: [
      ...USER_EXTENSIONS,
      // keyCertSign: the certificate signs itself (RFC 5280 4.2.1.3); cA=false keeps it from signing others.
      { name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true, keyCertSign: true },
      profileAltNames(opts.profile),
    ],
    ...validity(opts.days ?? SELF_CERT_DAYS, opts.notBefore, opts.notAfter),
  });
}

/** A certification authority root (self-signed, cA=true, keyCertSign). */
export function createCaCertificate(opts: { privateKey: KeyObject; name: string; days?: number; notBefore?: Date; notAfter?: Date }): Buffer {
  if (opts.name.trim() === '' || opts.name.length > MAX_NAME_LENGTH) throw new IdentityError('ERR_CA_BAD_REQUEST', 'a CA name of 1..200 characters is required');
  const attrs = [utf8Attr('commonName', opts.name), utf8Attr('organizationName', 'bitchat certification authority')];
  return buildCertificate({
    subjectPublicKey: createPublicKey(opts.privateKey),
    subjectAttrs: attrs,
    issuerAttrs: attrs,
    issuerKey: opts.privateKey,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', critical: true, keyCertSign: true, cRLSign: true, digitalSignature: true },
    ],
    ...validity(opts.days ?? CA_CERT_DAYS, opts.notBefore, opts.notAfter),
  });
}

function copyAttrs(attrs: forge.pki.CertificateField[]): forge.pki.CertificateField[] {
  // forge returns UTF8String values as raw bytes but encodes them again on write: decode first.
  return attrs.map((a) => {
    const utf8 = (a.valueTagClass as unknown as number) === forge.asn1.Type.UTF8;
    const value = utf8 ? forge.util.decodeUtf8(String(a.value)) : a.value;
    return { type: a.type, value, valueTagClass: a.valueTagClass } as forge.pki.CertificateField;
  });
}

/** A user certificate signed by a CA (`issuerCert` + `issuerKey`). */
export function issueUserCertificate(opts: {
  issuerCert: Buffer;
  issuerKey: KeyObject;
  subjectPublicKey: KeyObject;
  profile: SubjectProfile;
  serial?: string;
  days?: number;
  notBefore?: Date;
  notAfter?: Date;
}): Buffer {
  checkSubjectProfile(opts.profile);
  const issuer = readForge(opts.issuerCert);
  const ski = (issuer.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | null)?.subjectKeyIdentifier;
  return buildCertificate({
    subjectPublicKey: opts.subjectPublicKey,
    subjectAttrs: profileAttrs(opts.profile),
    issuerAttrs: copyAttrs(issuer.subject.attributes),
    issuerKey: opts.issuerKey,
    ...(ski !== undefined ? { authorityKeyId: ski } : {}),
    extensions: [
      ...USER_EXTENSIONS,
      { name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true },
      profileAltNames(opts.profile),
    ],
    ...(opts.serial !== undefined ? { serial: opts.serial } : {}),
    ...validity(opts.days ?? USER_CERT_DAYS, opts.notBefore, opts.notAfter),
  });
}

function readForge(der: Buffer): forge.pki.Certificate {
  const asn1 = forge.asn1.fromDer(der.toString('binary'), { strict: true, decodeBitStrings: true } as unknown as boolean);
  return forge.pki.certificateFromAsn1(asn1);
}

function attrValue(attrs: forge.pki.CertificateField[], shortName: string): string | null {
  const attr = attrs.find((a) => a.shortName === shortName);
  if (attr === undefined) return null;
  const raw = String(attr.value);
  if ((attr.valueTagClass as unknown as number) === forge.asn1.Type.UTF8) {
    try {
      return forge.util.decodeUtf8(raw);
    } catch {
      return raw;
    }
  }
  return raw;
}

/**
 * Parses untrusted DER into {@link CertificateInfo}. Checks the size cap first,
 * then lets node:crypto read it (native, strict), refuses non-RSA and weak keys,
 * then reads names and extensions with forge.
 */
export function parseCertificate(der: Buffer): CertificateInfo {
  if (!Buffer.isBuffer(der) || der.length === 0 || der.length > MAX_CERT_BYTES) {
    throw new IdentityError('ERR_CERT_MALFORMED', `certificate must be 1..${MAX_CERT_BYTES} bytes of DER`);
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(der);
  } catch (err) {
    throw new IdentityError('ERR_CERT_MALFORMED', 'not a DER X.509 certificate', { cause: err });
  }
  let publicKey: KeyObject;
  try {
    publicKey = x509.publicKey;
  } catch (err) {
    throw new IdentityError('ERR_CERT_MALFORMED', 'certificate public key not readable', { cause: err });
  }
  if (publicKey.asymmetricKeyType !== 'rsa') {
    throw new IdentityError('ERR_CERT_NOT_RSA', `certificate key is ${publicKey.asymmetricKeyType ?? 'unknown'}, only RSA is accepted`);
  }
  if ((publicKey.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) {
    throw new IdentityError('ERR_CERT_WEAK_KEY', `certificate RSA key below ${MIN_RSA_BITS} bits`);
  }
  let cert: forge.pki.Certificate;
  try {
    cert = readForge(der);
  } catch (err) {
    throw new IdentityError('ERR_CERT_MALFORMED', 'certificate structure not readable', { cause: err });
  }
  const basic = cert.getExtension('basicConstraints') as { cA?: boolean } | null;
  const usage = cert.getExtension('keyUsage') as { keyCertSign?: boolean } | null;
  const san = cert.getExtension('subjectAltName') as { altNames?: { type: number; value: string }[] } | null;
  const altNames = san?.altNames ?? [];
  const email = altNames.find((a) => a.type === 1)?.value ?? null;
  let fingerprint: string | undefined;
  const website = altNames.find((a) => a.type === 6)?.value ?? null;
  return {
    der,
    x509,
    serial: cert.serialNumber.toLowerCase(),
    name: attrValue(cert.subject.attributes, 'CN') ?? '',
    email,
    location: attrValue(cert.subject.attributes, 'L'),
    website,
    isCA: basic?.cA === true,
    keyCertSign: usage?.keyCertSign === true,
    notBefore: cert.validity.notBefore,
    notAfter: cert.validity.notAfter,
    publicKey,
    // Computed on first use: the chain walk does not need it, and exporting the key costs as much as a signature check.
    get fingerprint(): string {
      fingerprint ??= keyFingerprintHex(publicKey);
      return fingerprint;
    },
    selfIssued: x509.subject === x509.issuer,
  };
}

/** PEM armour for one DER certificate. */
export function certificateToPem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

/** All certificates in a PEM bundle, as DER. */
export function certificatesFromPem(pem: string): Buffer[] {
  const out: Buffer[] = [];
  const re = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;
  for (let m = re.exec(pem); m !== null; m = re.exec(pem)) out.push(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
  return out;
}

/**
 * A PKCS#10 certificate request (PEM) for `privateKey`, signed with node:crypto:
 * what `bitchat profile create --ca` sends to prove it holds the key.
 */
export function createCertificateRequest(opts: { privateKey: KeyObject; profile: SubjectProfile }): string {
  checkSubjectProfile(opts.profile);
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = toForgePublicKey(createPublicKey(opts.privateKey));
  csr.setSubject(profileAttrs(opts.profile));
  const nativeSigner = {
    sign: (): string => {
      const infoAsn1 = (csr as unknown as { certificationRequestInfo: forge.asn1.Asn1 }).certificationRequestInfo;
      const info = Buffer.from(forge.asn1.toDer(infoAsn1).getBytes(), 'binary');
      return sign('sha256', info, opts.privateKey).toString('binary');
    },
  };
  csr.sign(nativeSigner as unknown as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return forge.pki.certificationRequestToPem(csr);
}
