import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { Duplex, PassThrough } from 'node:stream';
import { createHooks } from '../../../core/hooks.js';
import { NO_VERDICT_CODE, SC_ERROR, SecureChannel, verifyPeerWithHook, type SuiteName } from '../../../core/secure-channel/index.js';
import { DEFAULT_SUITES } from '../../../core/secure-channel/suites.js';
import {
  Resources,
  channelPair,
  loadIdentity,
  options,
  randomPayload,
  readExactly,
  socketPair,
  waitClose,
} from './helpers.js';

const alice = loadIdentity('alice');
const bob = loadIdentity('bob');

describe('secure channel: handshake and data', function () {
  const res = new Resources();
  afterEach(() => res.closeAll());

  for (const suite of DEFAULT_SUITES) {
    it(`carries data both ways with ${suite}`, async () => {
      const [c, s] = await channelPair(res, options(alice, bob, { suites: [suite] }), options(bob, alice, { suites: [suite] }));
      expect(c.suite).to.equal(suite);
      expect(s.suite).to.equal(suite);
      expect(c.peerCertificateChain[0]!.equals(bob.certificateDer)).to.equal(true);
      expect(s.peerCertificateChain[0]!.equals(alice.certificateDer)).to.equal(true);
      const up = randomPayload(300_000);
      const down = randomPayload(1000);
      const gotUp = readExactly(s, up.length);
      const gotDown = readExactly(c, down.length);
      c.write(up);
      s.write(down);
      expect((await gotUp).equals(up)).to.equal(true);
      expect((await gotDown).equals(down)).to.equal(true);
      expect(c.exportKeyingMaterial('test', 32).equals(s.exportKeyingMaterial('test', 32))).to.equal(true);
    });
  }

  it('lets the server preference pick the suite among the offers', async () => {
    const [c, s] = await channelPair(
      res,
      options(alice, bob, { suites: ['DHE-2048/RSA/AES-256-CBC+HMAC-SHA256', 'X25519/RSA/AES-256-GCM'] }),
      options(bob, alice, { suites: ['X25519/RSA/AES-256-GCM', 'DHE-2048/RSA/AES-256-CBC+HMAC-SHA256'] }),
    );
    expect(c.suite).to.equal('X25519/RSA/AES-256-GCM');
    expect(s.suite).to.equal('X25519/RSA/AES-256-GCM');
  });

  it('fails both sides with ERR_SC_NO_COMMON_SUITE when the offers do not meet', async () => {
    const [a, b] = await socketPair(res);
    const [cr, sr] = await Promise.allSettled([
      SecureChannel.connect(a, options(alice, bob, { suites: ['X25519/RSA/AES-256-GCM'] })),
      SecureChannel.accept(b, options(bob, alice, { suites: ['DHE-2048/RSA/AES-256-CBC+HMAC-SHA256'] })),
    ]);
    expect(sr.status === 'rejected' && (sr.reason as { code: string }).code).to.equal(SC_ERROR.NO_COMMON_SUITE);
    expect(cr.status === 'rejected' && (cr.reason as { code: string; remoteCode: string }).remoteCode).to.equal(SC_ERROR.NO_COMMON_SUITE);
    await Promise.all([waitClose(a), waitClose(b)]);
  });

  it('gives two sessions with the same PSK different keys', async () => {
    const [c1, s1] = await channelPair(res, options(alice, bob), options(bob, alice));
    const [c2] = await channelPair(res, options(alice, bob), options(bob, alice));
    const k1 = c1.exportKeyingMaterial('k', 32);
    expect(k1.equals(s1.exportKeyingMaterial('k', 32))).to.equal(true);
    expect(k1.equals(c2.exportKeyingMaterial('k', 32))).to.equal(false);
  });

  it('coalesces a burst of small writes into few records', async () => {
    const [c, s] = await channelPair(res, options(alice, bob), options(bob, alice));
    const before = c.stats.recordsSent;
    const msg = randomPayload(100);
    const got = readExactly(s, 1000 * msg.length);
    for (let i = 0; i < 1000; i++) c.write(msg);
    const all = await got;
    expect(all.subarray(0, 100).equals(msg)).to.equal(true);
    expect(c.stats.recordsSent - before).to.equal(2); // 100 000 bytes: one full record and the rest
    expect(s.stats.bytesReceived).to.equal(100_000);
  });

  it('keeps data flowing across key updates (by bytes and on demand)', async () => {
    for (const suite of ['X25519/RSA/AES-256-GCM', 'ECDHE-P256/RSA/AES-256-CBC+HMAC-SHA256'] as SuiteName[]) {
      const [c, s] = await channelPair(
        res,
        options(alice, bob, { suites: [suite], rekeyAfterBytes: 100_000 }),
        options(bob, alice, { suites: [suite] }),
      );
      const data = randomPayload(1_000_000);
      const got = readExactly(s, data.length + 5);
      c.write(data);
      c.updateKeys();
      c.write(Buffer.from('after'));
      const all = await got;
      expect(all.subarray(0, data.length).equals(data)).to.equal(true);
      expect(all.subarray(data.length).toString()).to.equal('after');
      expect(c.stats.keyUpdatesSent).to.be.greaterThan(5);
      expect(s.stats.keyUpdatesReceived).to.equal(c.stats.keyUpdatesSent);
      // The other direction still works with its own (never updated) key.
      const back = readExactly(c, 3);
      s.write('ok!');
      expect((await back).toString()).to.equal('ok!');
    }
  });

  it('respects back-pressure: a reader that does not read stops the writer', async () => {
    const [c, s] = await channelPair(res, options(alice, bob), options(bob, alice));
    s.pause();
    const chunk = randomPayload(64 * 1024);
    let written = 0;
    for (let i = 0; i < 2000; i++) {
      written += chunk.length;
      if (!c.write(chunk)) break;
    }
    // The writer was told to wait long before 128 MiB.
    expect(written).to.be.lessThan(64 * 1024 * 2000);
    const got = readExactly(s, written);
    s.resume();
    expect((await got).length).to.be.at.least(written);
  });

  it('closes cleanly: end() on one side ends both, no error', async () => {
    const [c, s] = await channelPair(res, options(alice, bob), options(bob, alice));
    const errors: Error[] = [];
    c.on('error', (e) => errors.push(e));
    s.on('error', (e) => errors.push(e));
    const ends = Promise.all([once(s, 'end'), once(c, 'end')]);
    const got = readExactly(s, 5);
    c.resume();
    c.end('bye!!');
    expect((await got).toString()).to.equal('bye!!');
    s.resume();
    await ends;
    await Promise.all([waitClose(c), waitClose(s)]);
    expect(errors).to.deep.equal([]);
  });

  it('sends a key update when the send key is older than rekeyAfterMs', async () => {
    const [c, s] = await channelPair(res, options(alice, bob, { rekeyAfterMs: 1 }), options(bob, alice));
    const got = readExactly(s, 2);
    c.write('a');
    await new Promise((r) => setTimeout(r, 5));
    c.write('b');
    expect((await got).toString()).to.equal('ab');
    expect(c.stats.keyUpdatesSent).to.be.at.least(1);
    expect(s.stats.keyUpdatesReceived).to.equal(c.stats.keyUpdatesSent);
  });

  it('passes the staple to verifyPeer and exposes it', async () => {
    const seen: Array<Buffer | undefined> = [];
    const staple = Buffer.from('revocation proof');
    const [c, s] = await channelPair(
      res,
      options(alice, bob, { staple }),
      options(bob, alice, {
        verifyPeer: async (_chain, st) => {
          seen.push(st);
          return { ok: true };
        },
      }),
    );
    expect(seen.length).to.equal(1);
    expect(seen[0]!.equals(staple)).to.equal(true);
    expect(s.peerStaple!.equals(staple)).to.equal(true);
    expect(c.peerStaple).to.equal(undefined);
  });

  it('refuses a peer whose verifyPeer throws (ERR_SC_BAD_CERTIFICATE) and tells the peer', async () => {
    const [a, b] = await socketPair(res);
    const [cr, sr] = await Promise.allSettled([
      SecureChannel.connect(a, options(alice, bob)),
      SecureChannel.accept(b, options(bob, alice, { verifyPeer: async () => Promise.reject(new Error('CA unreachable')) })),
    ]);
    expect(sr.status === 'rejected' && (sr.reason as { code: string }).code).to.equal(SC_ERROR.BAD_CERTIFICATE);
    expect(cr.status === 'rejected' && (cr.reason as { remoteCode: string }).remoteCode).to.equal(SC_ERROR.BAD_CERTIFICATE);
  });

  it('accepts an Ed25519 leaf and refuses an RSA key below 2048 bits', async () => {
    const carol = loadIdentity('carol-ed25519');
    const [c] = await channelPair(res, options(carol, bob), options(bob, carol));
    expect(c.suite).to.equal('X25519/RSA/AES-256-GCM');
    const weak = loadIdentity('weak-rsa1024');
    const [a, b] = await socketPair(res);
    const [, sr] = await Promise.allSettled([SecureChannel.connect(a, options(weak, bob)), SecureChannel.accept(b, options(bob, weak))]);
    expect(sr.status === 'rejected' && (sr.reason as { code: string }).code).to.equal(SC_ERROR.BAD_CERTIFICATE);
  });

  it('checks the transcript signature with the key peerPublicKey gives (a certificate cache of the caller)', async () => {
    const read: Buffer[] = [];
    const cached = new X509Certificate(alice.certificateDer).publicKey;
    const [, s] = await channelPair(
      res,
      options(alice, bob),
      options(bob, alice, {
        peerPublicKey: (der) => {
          read.push(der);
          return cached;
        },
      }),
    );
    expect(read.length).to.equal(1);
    expect(read[0]!.equals(alice.certificateDer)).to.equal(true);
    expect(s.peerCertificateChain[0]!.equals(alice.certificateDer)).to.equal(true);
    // The key really is the one the signature is checked with: another user's key fails it,
    // a reader that throws refuses the certificate; neither reaches verifyPeer.
    const mallory = loadIdentity('mallory');
    const wrongKey = new X509Certificate(mallory.certificateDer).publicKey;
    for (const [peerPublicKey, code] of [
      [() => wrongKey, SC_ERROR.BAD_SIGNATURE],
      [
        () => {
          throw new Error('cache says no');
        },
        SC_ERROR.BAD_CERTIFICATE,
      ],
    ] as const) {
      let asked = 0;
      const [a, b] = await socketPair(res);
      const [cr, sr] = await Promise.allSettled([
        SecureChannel.connect(a, options(alice, bob)),
        SecureChannel.accept(
          b,
          options(bob, alice, {
            peerPublicKey,
            verifyPeer: async () => {
              asked++;
              return { ok: true };
            },
          }),
        ),
      ]);
      expect(sr.status === 'rejected' && (sr.reason as { code: string }).code).to.equal(code);
      expect(cr.status).to.equal('rejected');
      expect(asked).to.equal(0);
    }
  });

  it('runs over any Duplex, not only sockets (an in-memory pair, like a virtual channel)', async () => {
    const ab = new PassThrough();
    const ba = new PassThrough();
    const left = Duplex.from({ readable: ba, writable: ab });
    const right = Duplex.from({ readable: ab, writable: ba });
    const [c, s] = await Promise.all([SecureChannel.connect(left, options(alice, bob)), SecureChannel.accept(right, options(bob, alice))]);
    res.channel(c);
    res.channel(s);
    const data = randomPayload(200_000);
    const got = readExactly(s, data.length);
    c.write(data);
    expect((await got).equals(data)).to.equal(true);
    const ends = Promise.all([once(s, 'end'), once(c, 'end')]);
    s.resume();
    c.resume();
    c.end();
    await ends;
  });

  it('rejects bad options with ERR_SC_OPTIONS and frees the stream', async () => {
    const [a] = await socketPair(res);
    const err = await SecureChannel.connect(a, { ...options(alice, bob), psk: Buffer.alloc(3) }).catch((e: unknown) => e);
    expect((err as { code: string }).code).to.equal(SC_ERROR.OPTIONS);
    expect(a.destroyed).to.equal(true);
  });
});

describe('secure channel: verifyPeer from the kernel hook', () => {
  it('asks hooks.verifyCertificate with the chain, staple and network, and refuses when no tap answers', async () => {
    const hooks = createHooks();
    const noAnswer = verifyPeerWithHook(hooks.verifyCertificate);
    expect(await noAnswer([Buffer.from('x')])).to.deep.include({ ok: false, code: NO_VERDICT_CODE });
    const seen: unknown[] = [];
    hooks.verifyCertificate.tapPromise('test', async (check) => {
      seen.push(check);
      return { ok: check.chain[0]!.equals(bob.certificateDer) };
    });
    const networkId = Buffer.alloc(20, 1);
    const verify = verifyPeerWithHook(hooks.verifyCertificate, networkId);
    expect((await verify([bob.certificateDer], Buffer.from('s'))).ok).to.equal(true);
    expect((await verify([alice.certificateDer])).ok).to.equal(false);
    expect((seen[0] as { networkId: Buffer }).networkId.equals(networkId)).to.equal(true);
    expect((seen[0] as { staple: Buffer }).staple.toString()).to.equal('s');
  });
});
