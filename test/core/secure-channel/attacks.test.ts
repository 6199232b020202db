/**
 * Every attack the issue lists, each shown failing against real peers over TCP on
 * 127.0.0.1 (through a record-aware proxy or a scripted raw-socket peer).
 */
import { expect } from 'chai';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { SC_ERROR, SecureChannel, SecureChannelError, type SuiteName } from '../../../core/secure-channel/index.js';
import { RECORD_TYPE } from '../../../core/secure-channel/constants.js';
import { decodeClientHello, encodeClientHello, encodeRecord } from '../../../core/secure-channel/handshake-codec.js';
import { DEFAULT_SUITES, SUITE } from '../../../core/secure-channel/suites.js';
import {
  PSK,
  Resources,
  dial,
  listen,
  loadIdentity,
  nextError,
  options,
  recordProxy,
  readExactly,
  type RecordEditor,
  waitClose,
} from './helpers.js';

const alice = loadIdentity('alice');
const bob = loadIdentity('bob');
const mallory = loadIdentity('mallory');

type Settled<T> = PromiseSettledResult<T>;

function codeOf(r: Settled<unknown>): string | undefined {
  return r.status === 'rejected' ? (r.reason as SecureChannelError).code : undefined;
}
function remoteCodeOf(r: Settled<unknown>): string | undefined {
  return r.status === 'rejected' ? (r.reason as SecureChannelError).remoteCode : undefined;
}

/** Starts a server accepting with `serverOptions`; returns its port and the accept results. */
async function server(res: Resources, serverOptions: Parameters<typeof SecureChannel.accept>[1]) {
  const accepted: Array<Promise<SecureChannel>> = [];
  const sockets: Socket[] = [];
  let notify: (() => void) | null = null;
  const port = await listen(res, (s) => {
    sockets.push(s);
    const p = SecureChannel.accept(s, serverOptions);
    // Tests that do not watch a server channel's errors must not crash on them.
    p.then((c) => res.channel(c).on('error', () => undefined), () => undefined);
    accepted.push(p);
    notify?.();
  });
  const nextAccept = async (): Promise<Promise<SecureChannel>> => {
    while (accepted.length === 0) await new Promise<void>((r) => (notify = r));
    return accepted.shift()!;
  };
  return { port, nextAccept, sockets };
}

async function clientVia(res: Resources, port: number, clientOptions: Parameters<typeof SecureChannel.connect>[1]) {
  const sock = await dial(res, port);
  return SecureChannel.connect(sock, clientOptions).then((c) => res.channel(c));
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Runs a session through a proxy applying `edit` to client->server records; client writes two records. */
async function tamperedSession(res: Resources, suite: SuiteName, edit: RecordEditor) {
  const srv = await server(res, options(bob, alice, { suites: [suite] }));
  const proxy = await recordProxy(res, srv.port, edit);
  const client = await clientVia(res, proxy.port, options(alice, bob, { suites: [suite] }));
  const serverChannel = await (await srv.nextAccept());
  const serverError = nextError(serverChannel);
  const clientError = nextError(client);
  client.write(Buffer.alloc(200, 1));
  await tick();
  await tick();
  client.write(Buffer.alloc(200, 2));
  const result = { serverError: await serverError, clientError: await clientError.catch((e: Error) => e), log: proxy.log };
  // Every failure closes the channel and its stream.
  await Promise.all([waitClose(serverChannel), waitClose(srv.sockets[0]!)]);
  return result;
}

describe('secure channel: attacks that must fail', function () {
  const res = new Resources();
  afterEach(() => res.closeAll());

  describe('tampered records in the stream', () => {
    // toServer records: 0 ClientHello, 1 PskProof, 2 Identity, 3 and 4 data.
    const FIRST_DATA = 3;
    for (const suite of DEFAULT_SUITES) {
      const cbc = suite !== 'X25519/RSA/AES-256-GCM';
      const positions: Array<[string, (len: number) => number]> = [
        ['ciphertext', (len) => Math.floor(len / 2)],
        [cbc ? 'MAC' : 'tag', (len) => len - 1],
        [cbc ? 'IV' : 'first ciphertext byte', () => 3],
      ];
      for (const [what, at] of positions) {
        it(`${suite}: a bit flip in the ${what} fails with ERR_SC_BAD_MAC on both sides`, async () => {
          const { serverError, clientError } = await tamperedSession(res, suite, (rec, i, dir) => {
            if (dir === 'toServer' && i === FIRST_DATA) rec[at(rec.length)]! ^= 0x10;
            return [rec];
          });
          expect(serverError.code).to.equal(SC_ERROR.BAD_MAC);
          expect((clientError as SecureChannelError).remoteCode).to.equal(SC_ERROR.BAD_MAC);
        });
      }
    }

    it('a bit flip in the record type fails with ERR_SC_PROTOCOL', async () => {
      const { serverError } = await tamperedSession(res, 'X25519/RSA/AES-256-GCM', (rec, i, dir) => {
        if (dir === 'toServer' && i === FIRST_DATA) rec[0]! ^= 0x01;
        return [rec];
      });
      expect(serverError.code).to.equal(SC_ERROR.PROTOCOL);
    });

    it('a changed record length desynchronises framing and fails authentication', async () => {
      const { serverError } = await tamperedSession(res, 'ECDHE-P256/RSA/AES-256-CBC+HMAC-SHA256', (rec, i, dir) => {
        // Shrink by 16 bytes: the receiver reads a shorter record (then garbage).
        if (dir === 'toServer' && i === FIRST_DATA) rec.writeUInt16BE(rec.readUInt16BE(1) - 16, 1);
        return [rec];
      });
      expect([SC_ERROR.BAD_MAC, SC_ERROR.PROTOCOL]).to.include(serverError.code);
    });

    for (const suite of ['X25519/RSA/AES-256-GCM', 'DHE-2048/RSA/AES-256-CBC+HMAC-SHA256'] as SuiteName[]) {
      it(`${suite}: a replayed record fails`, async () => {
        const { serverError } = await tamperedSession(res, suite, (rec, i, dir) =>
          dir === 'toServer' && i === FIRST_DATA ? [rec, rec] : [rec],
        );
        expect(serverError.code).to.equal(SC_ERROR.BAD_MAC);
      });

      it(`${suite}: reordered records fail`, async () => {
        let held: Buffer | null = null;
        const { serverError } = await tamperedSession(res, suite, (rec, i, dir) => {
          if (dir === 'toServer' && i === FIRST_DATA) {
            held = rec;
            return [];
          }
          if (dir === 'toServer' && i === FIRST_DATA + 1) return [rec, held!];
          return [rec];
        });
        expect(serverError.code).to.equal(SC_ERROR.BAD_MAC);
      });

      it(`${suite}: a dropped record fails`, async () => {
        const { serverError } = await tamperedSession(res, suite, (rec, i, dir) =>
          dir === 'toServer' && i === FIRST_DATA ? [] : [rec],
        );
        expect(serverError.code).to.equal(SC_ERROR.BAD_MAC);
      });
    }

    it('a stream cut after a record (no close record) fails with ERR_SC_TRUNCATED', async () => {
      const { serverError } = await tamperedSession(res, 'X25519/RSA/AES-256-GCM', (rec, i, dir) =>
        dir === 'toServer' && i === FIRST_DATA + 1 ? 'cut' : [rec],
      );
      expect(serverError.code).to.equal(SC_ERROR.TRUNCATED);
    });

    it('a stream cut inside a record fails with ERR_SC_TRUNCATED', async () => {
      let cut: Socket | null = null;
      const srv = await server(res, options(bob, alice));
      const proxy = await recordProxy(res, srv.port, (rec, i, dir) => {
        if (dir === 'toServer' && i === FIRST_DATA) return [rec.subarray(0, 50), Buffer.alloc(0)];
        if (dir === 'toServer' && i === FIRST_DATA + 1) return 'cut';
        return [rec];
      });
      void cut;
      const client = await clientVia(res, proxy.port, options(alice, bob));
      const s = await (await srv.nextAccept());
      const err = nextError(s);
      client.on('error', () => undefined);
      client.write(Buffer.alloc(500));
      await tick();
      await tick();
      client.write(Buffer.alloc(500));
      expect((await err).code).to.equal(SC_ERROR.TRUNCATED);
    });

    it('no handshake or other cleartext record crosses the wire after the handshake, even across key updates', async () => {
      const srv = await server(res, options(bob, alice));
      const proxy = await recordProxy(res, srv.port);
      const client = await clientVia(res, proxy.port, options(alice, bob, { rekeyAfterBytes: 50_000 }));
      const s = await (await srv.nextAccept());
      const got = readExactly(s, 400_000);
      client.write(Buffer.alloc(400_000, 9));
      await got;
      expect(client.stats.keyUpdatesSent).to.be.greaterThan(3);
      expect(proxy.log.toServer.slice(2).every((r) => r[0] === RECORD_TYPE.ENCRYPTED)).to.equal(true);
      expect(proxy.log.toClient.slice(2).every((r) => r[0] === RECORD_TYPE.ENCRYPTED)).to.equal(true);
      // The payload (all 9s) never shows in clear.
      const wire = Buffer.concat(proxy.log.toServer);
      expect(wire.includes(Buffer.alloc(64, 9))).to.equal(false);
    });
  });

  describe('handshake attacks', () => {
    it('a wrong PSK fails before any certificate or signature leaves either node', async () => {
      const srv = await server(res, options(bob, alice));
      const proxy = await recordProxy(res, srv.port);
      const sock = await dial(res, proxy.port);
      const [cr, sr] = await Promise.allSettled([
        SecureChannel.connect(sock, options(alice, bob, { psk: Buffer.alloc(32, 8) })),
        srv.nextAccept().then((p) => p),
      ]);
      expect(codeOf(cr)).to.equal(SC_ERROR.BAD_PSK);
      expect(codeOf(sr)).to.equal(SC_ERROR.REMOTE_ALERT);
      expect(remoteCodeOf(sr)).to.equal(SC_ERROR.BAD_PSK);
      await waitClose(srv.sockets[0]!);
      const all = [...proxy.log.toServer, ...proxy.log.toClient];
      expect(all.map((r) => r[0])).to.not.include(RECORD_TYPE.ENCRYPTED);
      const wire = Buffer.concat(all);
      for (const der of [alice.certificateDer, bob.certificateDer]) {
        // Not the certificate, nor any 32-byte piece of it (e.g. the public key).
        for (let off = 0; off + 32 <= der.length; off += 32) expect(wire.includes(der.subarray(off, off + 32))).to.equal(false);
      }
      // Only hellos, one PSK proof (the server's, sent first) and the alert crossed.
      expect(proxy.log.toServer.map((r) => r[0])).to.deep.equal([RECORD_TYPE.CLIENT_HELLO, RECORD_TYPE.ALERT]);
    });

    it('a man in the middle with his own valid certificate is refused by the pinning verifier', async () => {
      const srv = await server(res, options(bob, alice));
      // Mallory knows the PSK and terminates both sides with his own certificate.
      const mitm = await server(res, { psk: PSK, identity: mallory.identity, verifyPeer: async () => ({ ok: true }) });
      const mitmUpstream = mitm.nextAccept().catch(() => undefined);
      const [cr] = await Promise.allSettled([clientVia(res, mitm.port, options(alice, bob))]);
      expect(codeOf(cr)).to.equal(SC_ERROR.BAD_CERTIFICATE);
      expect((cr as PromiseRejectedResult).reason.verdictCode).to.equal('ERR_CERT_UNTRUSTED');
      await mitmUpstream;
      void srv;
    });

    it("a man in the middle presenting the real peer's certificate cannot sign for it", async () => {
      // Mallory claims to be Bob: Bob's certificate, Mallory's key.
      const fakeBob = { certificateChain: [bob.certificateDer], privateKey: mallory.identity.privateKey };
      const mitm = await server(res, { psk: PSK, identity: fakeBob, verifyPeer: async () => ({ ok: true }) });
      const [cr] = await Promise.allSettled([clientVia(res, mitm.port, options(alice, bob)), mitm.nextAccept().catch(() => undefined)]);
      expect(codeOf(cr)).to.equal(SC_ERROR.BAD_SIGNATURE);
    });

    it('a key exchange replayed from an earlier session fails with ERR_SC_BAD_PSK', async () => {
      const srv = await server(res, options(bob, alice));
      const proxy = await recordProxy(res, srv.port);
      await clientVia(res, proxy.port, options(alice, bob));
      await srv.nextAccept();
      const recordedClient = proxy.log.toServer.slice(0, 3); // hello, PSK proof, identity
      const recordedServer = proxy.log.toClient.slice(0, 3); // hello, PSK proof, identity

      // Replay the client's flight to a fresh server session.
      const raw = await dial(res, srv.port);
      const replayed = srv.nextAccept();
      raw.write(recordedClient[0]!);
      await readExactly(raw, recordedServer[0]!.length + recordedServer[1]!.length);
      raw.write(Buffer.concat(recordedClient.slice(1)));
      const [sr] = await Promise.allSettled([replayed.then((p) => p)]);
      expect(codeOf(sr)).to.equal(SC_ERROR.BAD_PSK);

      // Replay the server's flight to a fresh client.
      const mitm = await listen(res, (s) => {
        s.once('data', () => s.write(Buffer.concat(recordedServer)));
      });
      const [cr] = await Promise.allSettled([clientVia(res, mitm, options(alice, bob))]);
      expect(codeOf(cr)).to.equal(SC_ERROR.BAD_PSK);
    });

    it('a suite downgrade by editing the ClientHello fails (the offer is in the transcript)', async () => {
      const srv = await server(res, options(bob, alice));
      const proxy = await recordProxy(res, srv.port, (rec, i, dir) => {
        if (dir !== 'toServer' || i !== 0) return [rec];
        const hello = decodeClientHello(rec.subarray(3));
        hello.offers = hello.offers.filter((o) => o.suite !== SUITE.X25519_RSA_AES256_GCM);
        return [encodeRecord(RECORD_TYPE.CLIENT_HELLO, encodeClientHello(hello))];
      });
      const sock = await dial(res, proxy.port);
      const [cr, sr] = await Promise.allSettled([SecureChannel.connect(sock, options(alice, bob)), srv.nextAccept().then((p) => p)]);
      expect(codeOf(cr)).to.equal(SC_ERROR.BAD_PSK);
      expect(remoteCodeOf(sr)).to.equal(SC_ERROR.BAD_PSK);
      // The server did pick the weaker suite it was shown: the edit reached it and was caught.
      expect(proxy.log.toClient[0]![3 + 1 + 32]).to.equal(SUITE.ECDHE_P256_RSA_AES256_CBC_SHA256);
    });

    it('a suite downgrade by editing the ServerHello fails', async () => {
      const srv = await server(res, options(bob, alice));
      const proxy = await recordProxy(res, srv.port, (rec, i, dir) => {
        if (dir === 'toClient' && i === 0) rec[3 + 1 + 32] = SUITE.DHE2048_RSA_AES256_CBC_SHA256;
        return [rec];
      });
      const sock = await dial(res, proxy.port);
      const [cr] = await Promise.allSettled([SecureChannel.connect(sock, options(alice, bob)), srv.nextAccept().then((p) => p)]);
      expect([SC_ERROR.BAD_PSK, SC_ERROR.PROTOCOL]).to.include(codeOf(cr));
    });

    it('a stalled handshake times out on both roles and frees the stream', async () => {
      // Server side: the peer connects and says nothing.
      const srv = await server(res, options(bob, alice, { handshakeTimeoutMs: 200 }));
      const raw = await dial(res, srv.port);
      const rawEnded = once(raw, 'end');
      raw.resume();
      const [sr] = await Promise.allSettled([srv.nextAccept().then((p) => p)]);
      expect(codeOf(sr)).to.equal(SC_ERROR.TIMEOUT);
      await waitClose(srv.sockets[0]!);
      await rawEnded;

      // Client side: the server accepts the TCP connection and never answers.
      const silent = await listen(res, () => undefined);
      const sock = await dial(res, silent);
      const [cr] = await Promise.allSettled([SecureChannel.connect(sock, options(alice, bob, { handshakeTimeoutMs: 200 }))]);
      expect(codeOf(cr)).to.equal(SC_ERROR.TIMEOUT);
      await waitClose(sock);
    });

    it('a peer that stalls after the PSK proofs (never sends its identity) times out', async () => {
      const srv = await server(res, options(bob, alice, { handshakeTimeoutMs: 300 }));
      const proxy = await recordProxy(res, srv.port, (rec, i, dir) => (dir === 'toServer' && i >= 2 ? [] : [rec]));
      const sock = await dial(res, proxy.port);
      const [, sr] = await Promise.allSettled([
        SecureChannel.connect(sock, options(alice, bob, { handshakeTimeoutMs: 3_000 })),
        srv.nextAccept().then((p) => p),
      ]);
      expect(codeOf(sr)).to.equal(SC_ERROR.TIMEOUT);
    });
  });

  describe('fuzzing the handshake on the wire (bounded)', () => {
    // A flipped byte can land on the version or the suite list: refusing those is right too.
    const ALLOWED = [SC_ERROR.VERSION, SC_ERROR.NO_COMMON_SUITE, SC_ERROR.BAD_PSK, SC_ERROR.BAD_MAC, SC_ERROR.PROTOCOL, SC_ERROR.REMOTE_ALERT, SC_ERROR.TRUNCATED, SC_ERROR.BAD_SIGNATURE, SC_ERROR.BAD_CERTIFICATE, SC_ERROR.TIMEOUT];

    it('a random byte changed in any handshake record body makes the handshake fail on both sides', async () => {
      const srv = await server(res, options(bob, alice, { handshakeTimeoutMs: 1_000 }));
      for (let round = 0; round < 24; round++) {
        const direction = round % 2 === 0 ? 'toServer' : 'toClient';
        const target = Math.floor(round / 2) % 3; // hello, PSK proof, identity
        const proxy = await recordProxy(res, srv.port, (rec, i, dir) => {
          if (dir === direction && i === target) rec[3 + Math.floor(Math.random() * (rec.length - 3))]! ^= 1 + Math.floor(Math.random() * 255);
          return [rec];
        });
        const sock = await dial(res, proxy.port);
        const [cr, sr] = await Promise.allSettled([
          SecureChannel.connect(sock, options(alice, bob, { handshakeTimeoutMs: 1_000 })).then((c) => res.channel(c)),
          srv.nextAccept().then((c) => c),
        ]);
        // A client may finish before the server refuses it (3-pass): then it gets an alert.
        if (cr.status === 'fulfilled') {
          expect(sr.status).to.equal('rejected');
          if (!cr.value.destroyed) expect(ALLOWED).to.include((await nextError(cr.value)).code);
        } else {
          expect(ALLOWED).to.include(codeOf(cr));
        }
        if (sr.status === 'rejected') expect(ALLOWED).to.include(codeOf(sr));
        else expect(cr.status).to.equal('rejected');
      }
    });

    it('random garbage from a peer is refused without a crash', async () => {
      const srv = await server(res, options(bob, alice, { handshakeTimeoutMs: 500 }));
      for (let i = 0; i < 30; i++) {
        const raw = await dial(res, srv.port);
        raw.on('data', () => undefined);
        const garbage = Buffer.from(Array.from({ length: 1 + Math.floor(Math.random() * 300) }, () => Math.floor(Math.random() * 256)));
        if (i % 3 === 0) garbage[0] = RECORD_TYPE.CLIENT_HELLO; // reach the hello decoder too
        if (i % 3 === 0 && garbage.length > 3) garbage.writeUInt16BE(garbage.length - 3, 1);
        raw.end(garbage);
        const [sr] = await Promise.allSettled([srv.nextAccept().then((c) => c)]);
        expect(ALLOWED).to.include(codeOf(sr));
      }
    });
  });

  describe('scripted peers sending messages out of order', () => {
    const ALERT_PROTOCOL = Buffer.from([RECORD_TYPE.ALERT, 0, 1, 10]);

    async function scriptedClient(res2: Resources, bytes: Buffer) {
      const srv = await server(res2, options(bob, alice));
      const raw = await dial(res2, srv.port);
      const reply: Buffer[] = [];
      raw.on('data', (d: Buffer) => reply.push(d));
      raw.write(bytes);
      const [sr] = await Promise.allSettled([srv.nextAccept().then((p) => p)]);
      await waitClose(raw);
      return { sr, reply: Buffer.concat(reply) };
    }

    it('a PSK proof before the ClientHello is refused with a protocol alert', async () => {
      const { sr, reply } = await scriptedClient(res, encodeRecord(RECORD_TYPE.PSK_PROOF, Buffer.alloc(32)));
      expect(codeOf(sr)).to.equal(SC_ERROR.PROTOCOL);
      expect(reply.equals(ALERT_PROTOCOL)).to.equal(true);
    });

    it('an encrypted record before the handshake is refused', async () => {
      const { sr } = await scriptedClient(res, encodeRecord(RECORD_TYPE.ENCRYPTED, Buffer.alloc(40)));
      expect(codeOf(sr)).to.equal(SC_ERROR.PROTOCOL);
    });

    it('a ServerHello sent to a server is refused', async () => {
      const { sr } = await scriptedClient(res, encodeRecord(RECORD_TYPE.SERVER_HELLO, Buffer.alloc(70)));
      expect(codeOf(sr)).to.equal(SC_ERROR.PROTOCOL);
    });

    it('an unknown record type is refused', async () => {
      const { sr } = await scriptedClient(res, Buffer.from([0x42, 0, 0]));
      expect(codeOf(sr)).to.equal(SC_ERROR.PROTOCOL);
    });

    it('an identity sent before the PSK proof is refused', async () => {
      const srv = await server(res, options(bob, alice));
      const proxy = await recordProxy(res, srv.port, (rec, i, dir) => {
        if (dir === 'toServer' && i === 1) return []; // hold back the PSK proof
        return [rec];
      });
      const sock = await dial(res, proxy.port);
      const [, sr] = await Promise.allSettled([SecureChannel.connect(sock, options(alice, bob)), srv.nextAccept().then((p) => p)]);
      expect(codeOf(sr)).to.equal(SC_ERROR.PROTOCOL);
    });

    it('an unknown protocol version is answered with a version alert', async () => {
      const hello = encodeRecord(
        RECORD_TYPE.CLIENT_HELLO,
        encodeClientHello({ version: 2, nonce: Buffer.alloc(32), offers: [{ suite: SUITE.X25519_RSA_AES256_GCM, share: Buffer.alloc(32, 9) }] }),
      );
      const { sr, reply } = await scriptedClient(res, hello);
      expect(codeOf(sr)).to.equal(SC_ERROR.VERSION);
      expect(reply.equals(Buffer.from([RECORD_TYPE.ALERT, 0, 1, 2]))).to.equal(true);
    });

    it('a server that sends its PSK proof before its ServerHello is refused', async () => {
      const port = await listen(res, (s) => {
        s.once('data', () => s.write(encodeRecord(RECORD_TYPE.PSK_PROOF, Buffer.alloc(32))));
      });
      const sock = await dial(res, port);
      const [cr] = await Promise.allSettled([SecureChannel.connect(sock, options(alice, bob))]);
      expect(codeOf(cr)).to.equal(SC_ERROR.PROTOCOL);
    });
  });
});
