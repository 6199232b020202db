import { CLOCK_SKEW_MS, MAX_CHAIN_LENGTH } from './constants.js';
import { IdentityError } from './errors.js';
import { parseCertificate, type CertificateInfo } from './certificate.js';

/** How a chain must be anchored. */
export type ChainMode = 'ca' | 'self';

/**
 * Signature checks that passed, certificate -> issuers (both as parsed objects). A DER's
 * signature never changes, so a verifier that keeps its parsed certificates can skip the
 * RSA check when it sees the same chain again; validity and CA flags are judged each time.
 */
export type SignatureMemo = WeakMap<CertificateInfo, WeakSet<CertificateInfo>>;

export interface ChainOptions {
  mode: ChainMode;
  /** Parsed trusted roots (mode 'ca'). */
  trustedRoots: readonly CertificateInfo[];
  now?: Date;
  clockSkewMs?: number;
  /** Remembers passed signature checks across calls (see {@link SignatureMemo}). */
  signatureMemo?: SignatureMemo;
}

/** A chain that verified: the leaf, the issuer of the leaf (itself when self-signed) and the trusted anchor. */
export interface VerifiedChain {
  leaf: CertificateInfo;
  issuer: CertificateInfo;
  anchor: CertificateInfo;
  mode: ChainMode;
}

function checkValidity(cert: CertificateInfo, now: number, skew: number, what: string): void {
  if (now + skew < cert.notBefore.getTime()) {
    throw new IdentityError('ERR_CERT_NOT_YET_VALID', `${what} is valid only from ${cert.notBefore.toISOString()}`);
  }
  if (now - skew > cert.notAfter.getTime()) {
    throw new IdentityError('ERR_CERT_EXPIRED', `${what} expired on ${cert.notAfter.toISOString()}`);
  }
}

function signedBy(cert: CertificateInfo, issuer: CertificateInfo, memo?: SignatureMemo): boolean {
  if (memo?.get(cert)?.has(issuer)) return true;
  let ok: boolean;
  try {
    ok = cert.x509.verify(issuer.publicKey);
  } catch {
    ok = false;
  }
  if (ok && memo) {
    let issuers = memo.get(cert);
    if (issuers === undefined) memo.set(cert, (issuers = new WeakSet()));
    issuers.add(issuer);
  }
  return ok;
}

function selfSigned(cert: CertificateInfo, memo?: SignatureMemo): boolean {
  return cert.selfIssued && signedBy(cert, cert, memo);
}

function checkLeaf(leaf: CertificateInfo): void {
  if (leaf.isCA) throw new IdentityError('ERR_CERT_CA_AS_LEAF', 'a CA certificate cannot be a profile certificate');
  if (leaf.email === null) throw new IdentityError('ERR_CERT_NO_EMAIL', 'profile certificate has no e-mail address (SAN rfc822Name)');
}

/** Parses untrusted DER (leaf first) with the chain-length cap; `parse` may be a caching parser. */
export function parseChain(chain: readonly Buffer[], parse: (der: Buffer) => CertificateInfo = parseCertificate): CertificateInfo[] {
  if (!Array.isArray(chain) || chain.length === 0) throw new IdentityError('ERR_CERT_MALFORMED', 'empty certificate chain');
  if (chain.length > MAX_CHAIN_LENGTH) throw new IdentityError('ERR_CERT_CHAIN_TOO_LONG', `chain has ${chain.length} certificates, at most ${MAX_CHAIN_LENGTH} allowed`);
  return chain.map((der) => parse(der));
}

/**
 * Verifies a parsed chain. Mode 'self': one self-signed profile certificate
 * (trust comes from pinning, done by the caller). Mode 'ca': each certificate is
 * signed by the next one (or, at the end, by a trusted root found by name), every
 * issuer is a CA with keyCertSign, every certificate is inside its validity
 * window (with `clockSkewMs` margin), and the walk ends at a trusted root.
 */
export function verifyParsedChain(certs: readonly CertificateInfo[], options: ChainOptions): VerifiedChain {
  const now = (options.now ?? new Date()).getTime();
  const skew = options.clockSkewMs ?? CLOCK_SKEW_MS;
  const leaf = certs[0]!;
  const memo = options.signatureMemo;
  checkLeaf(leaf);
  if (options.mode === 'self') {
    if (!selfSigned(leaf, memo)) {
      if (leaf.selfIssued) throw new IdentityError('ERR_CERT_TAMPERED', 'self-issued certificate signature does not verify');
      throw new IdentityError('ERR_CERT_NOT_SELF_SIGNED', 'a self-issued profile was expected, this certificate names an issuer');
    }
    checkValidity(leaf, now, skew, 'profile certificate');
    return { leaf, issuer: leaf, anchor: leaf, mode: 'self' };
  }
  if (leaf.selfIssued && selfSigned(leaf, memo)) {
    throw new IdentityError('ERR_CERT_SELF_SIGNED', 'self-signed profile certificate where a CA-issued one is required');
  }
  checkValidity(leaf, now, skew, 'profile certificate');
  let current = leaf;
  let leafIssuer: CertificateInfo | undefined;
  for (let i = 0; i < MAX_CHAIN_LENGTH; i++) {
    const trusted = options.trustedRoots.find((r) => r.der.equals(current.der));
    if (trusted !== undefined && i > 0) return { leaf, issuer: leafIssuer!, anchor: trusted, mode: 'ca' };
    const next: CertificateInfo | undefined = certs[i + 1];
    let issuer: CertificateInfo | undefined;
    let verified = false;
    if (next !== undefined) {
      if (next.x509.subject !== current.x509.issuer) {
        throw new IdentityError('ERR_CERT_WRONG_ISSUER', `certificate ${i} is issued by "${current.x509.issuer}", the next one is "${next.x509.subject}"`);
      }
      issuer = next;
    } else if (current.selfIssued) {
      throw new IdentityError('ERR_CERT_WRONG_ISSUER', `chain ends at "${current.x509.subject}", which is not a trusted root`);
    } else {
      const named = options.trustedRoots.filter((r) => r.x509.subject === current.x509.issuer);
      if (named.length === 0) throw new IdentityError('ERR_CERT_WRONG_ISSUER', `issuer "${current.x509.issuer}" is not a trusted root`);
      // Several roots may share a name (a CA re-keyed): the one whose key verifies wins.
      const signer = named.find((r) => signedBy(current, r, memo));
      issuer = signer ?? named[0]!;
      verified = signer !== undefined;
    }
    if (!verified && !signedBy(current, issuer, memo)) {
      throw new IdentityError('ERR_CERT_TAMPERED', `signature of certificate ${i} does not verify with its issuer's key`);
    }
    if (!issuer.isCA || !issuer.keyCertSign) {
      throw new IdentityError('ERR_CERT_NOT_CA', `issuer "${issuer.x509.subject}" is not a certification authority`);
    }
    checkValidity(issuer, now, skew, `issuer "${issuer.x509.subject}"`);
    leafIssuer ??= issuer;
    if (next === undefined) return { leaf, issuer: leafIssuer, anchor: issuer, mode: 'ca' };
    current = next;
  }
  throw new IdentityError('ERR_CERT_CHAIN_TOO_LONG', 'chain does not reach a trusted root');
}

/** {@link parseChain} then {@link verifyParsedChain}. */
export function verifyChain(chain: readonly Buffer[], options: ChainOptions): VerifiedChain {
  return verifyParsedChain(parseChain(chain), options);
}
