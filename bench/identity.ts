/**
 * Identity benchmark: profile unlock time (PBKDF2 x 200,000 + AES-GCM + parse)
 * against raw PBKDF2, and certificate chain verifications per second against
 * raw node:crypto RSA-4096 signature verification.
 * Run: node --import tsx bench/identity.ts
 */
import { pbkdf2Sync, sign, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchRow } from './types.js';
import { createCaCertificate, issueUserCertificate, parseCertificate } from '../core/identity/certificate.js';
import { verifyChain } from '../core/identity/chain.js';
import { generateRsaKeyPair } from '../core/identity/keys.js';
import { Profile, loadProfile, saveProfile } from '../core/identity/profile.js';
import { signRevocationStatus } from '../core/identity/revocation.js';
import { createCertificateVerifier } from '../core/identity/verifier.js';

const UNLOCK_RUNS = 5;
const RATE_WINDOW_MS = 1500;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Calls `fn` for about `windowMs` (bounded count too) and returns calls per second. */
async function rate(fn: () => unknown | Promise<unknown>, windowMs = RATE_WINDOW_MS): Promise<number> {
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < windowMs && n < 1_000_000) {
    await fn();
    n++;
  }
  return (n * 1000) / (performance.now() - start);
}

export async function run(): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bitchat-bench-identity-'));
  try {
    const keygen: number[] = [];
    const pairs = [];
    for (let i = 0; i < 2; i++) {
      const t = performance.now();
      pairs.push(await generateRsaKeyPair());
      keygen.push(performance.now() - t);
    }
    const [caKeys, userKeys] = pairs as [Awaited<ReturnType<typeof generateRsaKeyPair>>, Awaited<ReturnType<typeof generateRsaKeyPair>>];

    const profile = await Profile.createSelfIssued({ subject: { name: 'Bench', email: 'bench@example.org' }, keyPair: userKeys });
    const path = join(dir, 'bench.profile');
    await saveProfile(path, profile, 'bench password');
    const unlock: number[] = [];
    const rawKdf: number[] = [];
    for (let i = 0; i < UNLOCK_RUNS; i++) {
      let t = performance.now();
      await loadProfile(path, 'bench password');
      unlock.push(performance.now() - t);
      t = performance.now();
      pbkdf2Sync('bench password', 'x'.repeat(32), 200_000, 32, 'sha256');
      rawKdf.push(performance.now() - t);
    }

    const root = createCaCertificate({ privateKey: caKeys.privateKey, name: 'Bench CA' });
    const leaf = issueUserCertificate({ issuerCert: root, issuerKey: caKeys.privateKey, subjectPublicKey: userKeys.publicKey, profile: { name: 'Bench', email: 'bench@example.org' } });
    const roots = [parseCertificate(root)];
    const chainRate = await rate(() => verifyChain([leaf], { mode: 'ca', trustedRoots: roots }));
    const message = Buffer.alloc(1024, 7);
    const signature = sign('sha256', message, caKeys.privateKey);
    const rawVerifyRate = await rate(() => verify('sha256', message, caKeys.publicKey, signature));

    const staple = signRevocationStatus({ status: 'good', serial: parseCertificate(leaf).serial, producedAt: Date.now(), issuerKey: caKeys.privateKey, issuerCertificate: roots[0]! });
    const verifier = createCertificateVerifier({ mode: 'ca', trustedRoots: [root], revocationPolicy: { mode: 'require-staple' }, cacheEntries: 0 }); // every call a first contact (the cached case is in bench/secure-channel.ts)
    const peerRate = await rate(() => verifier.verifyPeer([leaf], staple));

    return [
      { name: 'profile unlock (PBKDF2 x200k + AES-GCM + parse), median', value: median(unlock), unit: 'ms', reference: { name: 'raw PBKDF2-HMAC-SHA256 x200k, 32 B', value: median(rawKdf) }, target: '< 2x raw KDF' },
      { name: 'chain verification, RSA-4096 leaf + root', value: chainRate, unit: 'ops/s', reference: { name: 'raw RSA-4096 verify (node:crypto)', value: rawVerifyRate } },
      { name: 'verifyPeer with revocation staple (2 RSA verifies)', value: peerRate, unit: 'ops/s', reference: { name: 'raw RSA-4096 verify (node:crypto)', value: rawVerifyRate } },
      { name: 'RSA-4096 key generation, median of 2', value: median(keygen), unit: 'ms' },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const row of await run()) {
    const ref = row.reference ? `  (reference: ${row.reference.name} = ${row.reference.value.toFixed(2)})` : '';
    process.stdout.write(`${row.name}: ${row.value.toFixed(2)} ${row.unit}${ref}\n`);
  }
}
