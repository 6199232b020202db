import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { IdentityError } from '../../../core/identity/errors.js';
import { generateRsaKeyPair, samePublicKey, type RsaKeyPair } from '../../../core/identity/keys.js';
import { decodeProfileHeader, openProfile, sealProfile } from '../../../core/identity/profile-file.js';
import { Profile, loadProfile, saveProfile } from '../../../core/identity/profile.js';
import type { ProgressEvent } from '../../../core/identity/progress.js';
import { TEST_BITS, makeCa } from './fixtures.js';

/** The vector printed in docs/protocol/identity.md. */
const VECTOR = {
  password: 'correct horse battery staple',
  salt: Buffer.from(Array.from({ length: 32 }, (_, i) => i + 1)),
  nonce: Buffer.from(Array.from({ length: 12 }, (_, i) => 0xa0 + i)),
  payload: '{"hello":"bitchat"}',
  file:
    '42435046010100030d40200102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20010ca0a1a2a3a4a5a6a7a8a9aaab1025c18ddea2c8f008fd3de0969e0cedb500000013ba93989ee826c2b0cedb497a8145856c28db707686bf98d509fab88a81d9ba2b9577c0',
};

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    if (err instanceof IdentityError) return err.code;
    throw err;
  }
  return undefined;
}

describe('identity: profile file', function () {
  let dir: string;
  let keys: RsaKeyPair;

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), 'bitchat-profile-'));
    keys = await generateRsaKeyPair({ bits: TEST_BITS });
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it('matches the documented test vector', async function () {
    const sealed = await sealProfile(Buffer.from(VECTOR.payload), VECTOR.password, { salt: VECTOR.salt, nonce: VECTOR.nonce });
    expect(sealed.toString('hex')).to.equal(VECTOR.file);
    expect((await openProfile(Buffer.from(VECTOR.file, 'hex'), VECTOR.password)).toString()).to.equal(VECTOR.payload);
    expect(decodeProfileHeader(sealed).iterations).to.equal(200_000);
  });

  it('saves and loads a profile with key, certificates, roots, pins and settings; fresh salt and nonce per save', async function () {
    const ca = await makeCa('Profile CA');
    const profile = await Profile.createSelfIssued({ subject: { name: 'Alice', email: 'alice@example.org' }, keyPair: keys, settings: { localPort: 41000 } });
    profile.pins.observe('bob@example.org', 'ab'.repeat(32), 'Bob');
    profile.trustedRoots.push(ca.cert);
    const path = join(dir, 'alice.profile');
    const kdf: ProgressEvent[] = [];
    await saveProfile(path, profile, 'pässword', { onProgress: (e) => kdf.push(e) });
    expect(kdf.map((e) => e.state)).to.include.members(['start', 'done']);
    const first = readFileSync(path);
    await saveProfile(path, profile, 'pässword');
    const second = readFileSync(path);
    const h1 = decodeProfileHeader(first);
    const h2 = decodeProfileHeader(second);
    expect(h1.salt.equals(h2.salt)).to.equal(false);
    expect(h1.nonce.equals(h2.nonce)).to.equal(false);
    // Portable: copy the bytes elsewhere and open them there (NFC-normalised password).
    const copy = join(dir, 'copied.profile');
    writeFileSync(copy, second);
    const loaded = await loadProfile(copy, 'pa\u0308ssword');
    expect(loaded.kind).to.equal('self');
    expect(samePublicKey(loaded.privateKey, keys.privateKey)).to.equal(true);
    expect(loaded.email).to.equal('alice@example.org');
    expect(loaded.certificateChain[0]!.equals(profile.certificateChain[0]!)).to.equal(true);
    expect(loaded.trustedRoots[0]!.equals(ca.cert)).to.equal(true);
    expect(loaded.pins.check('bob@example.org', 'ab'.repeat(32))).to.equal('match');
    expect(loaded.settings).to.deep.equal({ localPort: 41000 });
    expect(loaded.safetyNumber).to.equal(profile.safetyNumber);
    // Adopting a CA certificate for the same key and address.
    const issued = ca.issue(keys.publicKey, { name: 'Alice', email: 'alice@example.org' });
    loaded.adoptCaCertificate([issued], ca.cert, 'http://127.0.0.1:1');
    expect(loaded.kind).to.equal('ca');
    const other = await makeCa('Other');
    expect(() => loaded.adoptCaCertificate([other.issue(other.keys.publicKey, { name: 'A', email: 'alice@example.org' })], other.cert)).to.throw(IdentityError);
  });

  it('tells a wrong password from tampering, refuses an empty password', async function () {
    const profile = await Profile.createSelfIssued({ subject: { name: 'Alice', email: 'alice@example.org' }, keyPair: keys });
    const path = join(dir, 'p.profile');
    await saveProfile(path, profile, 'secret');
    const file = readFileSync(path);
    expect(await codeOf(openProfile(file, 'Secret'))).to.equal('ERR_PROFILE_BAD_PASSWORD');
    expect(await codeOf(openProfile(file, ''))).to.equal('ERR_PROFILE_EMPTY_PASSWORD');
    expect(await codeOf(saveProfile(path, profile, ''))).to.equal('ERR_PROFILE_EMPTY_PASSWORD');
    const h = decodeProfileHeader(file);
    const body = Buffer.from(file);
    body[h.headerLength + 5]! ^= 0x01;
    expect(await codeOf(openProfile(body, 'secret'))).to.equal('ERR_PROFILE_TAMPERED');
    const tag = Buffer.from(file);
    tag[tag.length - 1]! ^= 0x80;
    expect(await codeOf(openProfile(tag, 'secret'))).to.equal('ERR_PROFILE_TAMPERED');
    // The nonce is in the authenticated header: flipping it is tampering, not a wrong password.
    const nonce = Buffer.from(file);
    nonce[11 + h.salt.length + 2]! ^= 0x01;
    expect(await codeOf(openProfile(nonce, 'secret'))).to.equal('ERR_PROFILE_TAMPERED');
    const iters = Buffer.from(file);
    iters.writeUInt32BE(0xffffffff, 6);
    expect(await codeOf(openProfile(iters, 'secret'))).to.equal('ERR_PROFILE_UNSUPPORTED');
    expect(await codeOf(openProfile(Buffer.from('not a profile at all'), 'secret'))).to.equal('ERR_PROFILE_MALFORMED');
  });

  it('refuses every truncation and sampled bit flips with a typed error (fuzz)', async function () {
    const small = await sealProfile(Buffer.from('{"x":1}'), 'pw');
    for (let len = 0; len < small.length; len++) {
      const code = await codeOf(openProfile(small.subarray(0, len), 'pw'));
      expect(code, `length ${len}`).to.be.oneOf(['ERR_PROFILE_TRUNCATED', 'ERR_PROFILE_MALFORMED']);
    }
    // Each flip that gets past the header costs one PBKDF2 (~35 ms): sample ~40 positions.
    for (let bit = 3; bit < small.length * 8; bit += 23) {
      const bad = Buffer.from(small);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      const code = await codeOf(openProfile(bad, 'pw'));
      expect(code, `bit ${bit}`).to.be.oneOf(['ERR_PROFILE_MALFORMED', 'ERR_PROFILE_UNSUPPORTED', 'ERR_PROFILE_TRUNCATED', 'ERR_PROFILE_BAD_PASSWORD', 'ERR_PROFILE_TAMPERED']);
    }
    expect(await codeOf(openProfile(Buffer.concat([small, Buffer.from([0])]), 'pw'))).to.equal('ERR_PROFILE_MALFORMED');
  });

  it('refuses malformed payloads inside a genuine container with a typed error', async function () {
    const good = JSON.parse((await Profile.createSelfIssued({ subject: { name: 'A', email: 'a@example.org' }, keyPair: keys })).encodePayload().toString()) as Record<string, unknown>;
    const variants: unknown[] = ['', 'null', '[]', '{"format":"other"}', { ...good, version: 2 }, { ...good, kind: 'root' }, { ...good, privateKey: 'junk' }, { ...good, certificates: [] }, { ...good, certificates: ['AAAA'] }, { ...good, settings: [] }, { ...good, pins: { pins: 3 } }];
    const other = await generateRsaKeyPair({ bits: TEST_BITS });
    variants.push({ ...good, privateKey: other.privateKey.export({ type: 'pkcs8', format: 'pem' }) });
    for (const v of variants) {
      const buf = Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));
      let code: string | undefined;
      try {
        Profile.decodePayload(buf);
      } catch (err) {
        code = err instanceof IdentityError ? err.code : `untyped: ${(err as Error).message}`;
      }
      expect(code, JSON.stringify(v).slice(0, 60)).to.be.oneOf(['ERR_PROFILE_MALFORMED', 'ERR_PROFILE_UNSUPPORTED', 'ERR_CERT_MALFORMED', 'ERR_KEY_MISMATCH']);
    }
  });

  it('saves atomically: until the rename the old file is intact; no temp files remain', async function () {
    const profile = await Profile.createSelfIssued({ subject: { name: 'Alice', email: 'alice@example.org' }, keyPair: keys });
    const sub = mkdtempSync(join(dir, 'atomic-'));
    const path = join(sub, 'a.profile');
    await saveProfile(path, profile, 'old');
    const before = readFileSync(path);
    let sawOld = false;
    await saveProfile(path, profile, 'new', {
      onStage: async (stage) => {
        if (stage !== 'temp-written') return;
        expect(readFileSync(path).equals(before)).to.equal(true);
        expect((await loadProfile(path, 'old')).email).to.equal('alice@example.org');
        sawOld = true;
      },
    });
    expect(sawOld).to.equal(true);
    expect(await codeOf(loadProfile(path, 'old'))).to.equal('ERR_PROFILE_BAD_PASSWORD');
    expect((await loadProfile(path, 'new')).email).to.equal('alice@example.org');
    expect(readdirSync(sub)).to.deep.equal(['a.profile']);
  });
});
