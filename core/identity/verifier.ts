import type { KeyObject } from 'node:crypto';
import type { CertificateVerdict } from '../types.js';
import { parseCertificate, type CertificateInfo } from './certificate.js';
import { CertificateCache, DEFAULT_CERTIFICATE_CACHE_ENTRIES } from './certificate-cache.js';
import { parseChain, verifyParsedChain, type VerifiedChain } from './chain.js';
import { CLOCK_SKEW_MS } from './constants.js';
import { IdentityError } from './errors.js';
import { safetyNumber } from './fingerprint.js';
import type { PinStore } from './pins.js';
import { checkStaple, DEFAULT_STAPLE_MAX_AGE_MS, type StapleCheck } from './revocation.js';

/**
 * How revocation is judged for CA-issued certificates:
 * - `require-staple`: a fresh, genuine staple must come with the certificate;
 * - `accept-missing`: a missing or stale staple is tolerated, a revoked or forged one is not;
 * - `ask-ca`: without a fresh staple, ask the CA (`fetchStatus`); no answer refuses (hard fail);
 * - `off`: no revocation check (tests, offline CA).
 */
export type RevocationMode = 'require-staple' | 'accept-missing' | 'ask-ca' | 'off';

export interface RevocationPolicy {
  mode: RevocationMode;
  /** @default 24 h */
  maxAgeMs?: number;
  /** For `ask-ca`: fetch a signed status for the leaf from its CA (see ca/client.ts). */
  fetchStatus?: (leaf: CertificateInfo, issuer: CertificateInfo) => Promise<Buffer>;
}

export interface CertificateVerifierOptions {
  /**
   * `ca`: only CA-issued chains to `trustedRoots`; `self`: only self-issued
   * profiles, trusted on first use through `pins`; `either`: both.
   */
  mode: 'ca' | 'self' | 'either';
  /** DER trusted roots (mode `ca` / `either`). */
  trustedRoots?: readonly Buffer[];
  /** Pins for self-issued profiles (mode `self` / `either`); without one, self-issued profiles are refused. */
  pins?: PinStore;
  /** @default { mode: 'accept-missing' } */
  revocationPolicy?: RevocationPolicy;
  /** @default 5 min */
  clockSkewMs?: number;
  /** Clock for tests. */
  now?: () => number;
  /** Parsed certificates remembered (by DER hash) for peers seen again; 0 parses every time. @default 512 */
  cacheEntries?: number;
}

/** A positive verdict carries who the peer is. */
export interface PeerVerdict extends CertificateVerdict {
  /** Set when ok. */
  peer?: {
    email: string;
    name: string;
    fingerprint: string;
    safetyNumber: string;
    kind: 'ca' | 'self';
    /** Self-issued: 'unknown' on first contact (now pinned), 'match' after. */
    pin?: 'unknown' | 'match';
    revocation?: StapleCheck['state'];
    leaf: CertificateInfo;
  };
}

export interface CertificateVerifier {
  verifyPeer(chain: readonly Buffer[], staple?: Buffer): Promise<PeerVerdict>;
  /**
   * The public key of a (leaf) certificate, through the same parse cache `verifyPeer`
   * uses: pass it as the secure channel's `peerPublicKey` so the channel's signature check
   * and the verdict share one decode. Throws IdentityError for what `verifyPeer` refuses
   * as malformed.
   */
  publicKeyOf(der: Buffer): KeyObject;
  readonly stats: { verified: number; refused: number; staplesChecked: number; caQueries: number; cacheHits: number; cacheMisses: number };
}

function refuse(code: string, reason: string): PeerVerdict {
  return { ok: false, code, reason };
}

/**
 * Builds the `verifyPeer(chain, staple?)` the secure channel calls (and that a
 * `hooks.verifyCertificate` tap can wrap). Never throws for bad input: every
 * refusal is `{ ok: false, code, reason }` with a stable `ERR_CERT_*` /
 * `ERR_REVOCATION_*` code.
 */
export function createCertificateVerifier(options: CertificateVerifierOptions): CertificateVerifier {
  const cacheEntries = options.cacheEntries ?? DEFAULT_CERTIFICATE_CACHE_ENTRIES;
  const cache = cacheEntries > 0 ? new CertificateCache(cacheEntries) : null;
  const parse = cache ? (der: Buffer) => cache.parse(der) : parseCertificate;
  const roots: CertificateInfo[] = (options.trustedRoots ?? []).map((der) => parseCertificate(der));
  const policy: RevocationPolicy = options.revocationPolicy ?? { mode: 'accept-missing' };
  const maxAgeMs = policy.maxAgeMs ?? DEFAULT_STAPLE_MAX_AGE_MS;
  const skew = options.clockSkewMs ?? CLOCK_SKEW_MS;
  const clock = options.now ?? Date.now;
  const stats = {
    verified: 0,
    refused: 0,
    staplesChecked: 0,
    caQueries: 0,
    get cacheHits(): number {
      return cache?.stats.hits ?? 0;
    },
    get cacheMisses(): number {
      return cache?.stats.misses ?? 0;
    },
  };

  async function revocation(v: VerifiedChain, staple: Buffer | undefined, now: number): Promise<PeerVerdict | StapleCheck['state']> {
    if (policy.mode === 'off') return 'missing';
    stats.staplesChecked++;
    let check = checkStaple(staple, v.leaf, v.issuer, { now, maxAgeMs, clockSkewMs: skew });
    if (check.state === 'forged') return refuse('ERR_REVOCATION_FORGED', check.reason ?? 'forged revocation status');
    if (check.state === 'revoked') return refuse('ERR_CERT_REVOKED', `certificate ${v.leaf.serial} is revoked (${check.reason ?? ''})`);
    if (check.state === 'good') return 'good';
    if (policy.mode === 'accept-missing') return check.state;
    if (policy.mode === 'require-staple') {
      return check.state === 'stale'
        ? refuse('ERR_REVOCATION_STALE', check.reason ?? 'stale revocation status')
        : refuse('ERR_REVOCATION_MISSING', 'no revocation status stapled to the certificate');
    }
    if (policy.fetchStatus === undefined) return refuse('ERR_REVOCATION_UNAVAILABLE', 'policy ask-ca without a way to reach the CA');
    stats.caQueries++;
    let fetched: Buffer;
    try {
      fetched = await policy.fetchStatus(v.leaf, v.issuer);
    } catch (err) {
      return refuse('ERR_REVOCATION_UNAVAILABLE', `CA did not answer: ${(err as Error).message}`);
    }
    check = checkStaple(fetched, v.leaf, v.issuer, { now: clock(), maxAgeMs, clockSkewMs: skew });
    if (check.state === 'good') return 'good';
    if (check.state === 'revoked') return refuse('ERR_CERT_REVOKED', `certificate ${v.leaf.serial} is revoked (${check.reason ?? ''})`);
    return refuse(check.state === 'stale' ? 'ERR_REVOCATION_STALE' : 'ERR_REVOCATION_FORGED', `CA answer: ${check.reason ?? check.state}`);
  }

  async function verify(chain: readonly Buffer[], staple: Buffer | undefined): Promise<PeerVerdict> {
    const now = clock();
    const certs = parseChain(chain, parse);
    const leaf = certs[0]!;
    const selfIssued = leaf.selfIssued && certs.length === 1;
    const kind: 'ca' | 'self' = options.mode === 'either' ? (selfIssued ? 'self' : 'ca') : options.mode;
    const verified = verifyParsedChain(certs, {
      mode: kind,
      trustedRoots: roots,
      now: new Date(now),
      clockSkewMs: skew,
      ...(cache ? { signatureMemo: cache.signatures } : {}),
    });
    const email = leaf.email!;
    let digits: string | undefined;
    const peer = {
      email,
      name: leaf.name,
      fingerprint: leaf.fingerprint,
      // Only self-issued peers need it at once; CA-verified ones only when a UI asks.
      get safetyNumber(): string {
        digits ??= safetyNumber(leaf.publicKey, email);
        return digits;
      },
      kind,
      leaf,
    };
    if (kind === 'self') {
      if (options.pins === undefined) return refuse('ERR_CERT_SELF_SIGNED', 'self-issued profiles are not accepted without a pin store');
      const pin = options.pins.observe(email, leaf.fingerprint, leaf.name, now);
      if (pin === 'changed') {
        return refuse('ERR_CERT_PIN_MISMATCH', `the key for ${email} changed (new safety number ${peer.safetyNumber}); refused until the user accepts it`);
      }
      return { ok: true, peer: Object.assign(peer, { pin }) };
    }
    const rev = await revocation(verified, staple, now);
    if (typeof rev !== 'string') return rev;
    return { ok: true, peer: Object.assign(peer, { revocation: rev }) };
  }

  return {
    stats,
    publicKeyOf: (der) => parse(der).publicKey,
    async verifyPeer(chain, staple) {
      let verdict: PeerVerdict;
      try {
        verdict = await verify(chain, staple);
      } catch (err) {
        if (!(err instanceof IdentityError)) throw err;
        verdict = refuse(err.code, err.message);
      }
      if (verdict.ok) stats.verified++;
      else stats.refused++;
      return verdict;
    },
  };
}

/**
 * Adapts a verifier to `hooks.verifyCertificate` (an AsyncSeriesBailHook): the
 * verdict bails, so later taps only see certificates this one had no say on.
 */
export function verifierAsHookTap(verifier: CertificateVerifier): (check: { chain: Buffer[]; staple?: Buffer }) => Promise<CertificateVerdict> {
  return async (check) => {
    const v = await verifier.verifyPeer(check.chain, check.staple);
    return v.ok ? { ok: true } : { ok: false, ...(v.code !== undefined ? { code: v.code } : {}), ...(v.reason !== undefined ? { reason: v.reason } : {}) };
  };
}
