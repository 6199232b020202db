/**
 * Parsed certificates by the SHA-256 of their DER, least recently used out first.
 *
 * Parsing one RSA-4096 profile certificate costs ~0.3-0.5 ms here (OpenSSL 3 decodes the
 * key, forge reads the extensions), and a node meets the same peers' certificates on
 * every reconnect and in every chat it shares with them. The parse is a pure function
 * of the bytes, so remembering it changes no verdict: validity windows, revocation and
 * pins are still judged on every use by the caller.
 */
import { createHash } from 'node:crypto';
import { parseCertificate, type CertificateInfo } from './certificate.js';
import type { SignatureMemo } from './chain.js';

/** Enough for the peers of a large mesh; each entry is a few KiB (DER, X509Certificate, key). */
export const DEFAULT_CERTIFICATE_CACHE_ENTRIES = 512;

export class CertificateCache {
  readonly stats = { hits: 0, misses: 0 };
  /** Signature checks that passed between cached certificates (kept as long as the objects are). */
  readonly signatures: SignatureMemo = new WeakMap();
  private readonly entries = new Map<string, CertificateInfo>();

  constructor(private readonly capacity: number = DEFAULT_CERTIFICATE_CACHE_ENTRIES) {}

  get size(): number {
    return this.entries.size;
  }

  /** Like {@link parseCertificate} (same errors, nothing cached for bad input), but each DER is parsed once. */
  parse(der: Buffer): CertificateInfo {
    // parseCertificate checks the type and size cap; hashing first must not hide a non-Buffer.
    if (!Buffer.isBuffer(der)) return parseCertificate(der);
    const key = createHash('sha256').update(der).digest('base64');
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      this.stats.hits++;
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    this.stats.misses++;
    const info = parseCertificate(der);
    this.entries.set(key, info);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
    return info;
  }
}
