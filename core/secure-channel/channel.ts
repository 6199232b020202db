/**
 * SecureChannel: an authenticated, forward-secret, encrypted Duplex over any byte
 * stream (a TCP socket, a virtual channel of the connection layer...).
 *
 * Handshake (four flights; see docs/protocol/secure-channel.md for the bytes):
 *
 * ```
 * C -> S  ClientHello   version, nonce_c, offered suites, one key share per offer
 * S -> C  ServerHello   version, nonce_s, chosen suite, key share
 * S -> C  PskProof      HMAC(pskKey_s, th)          th = SHA-256(ClientHello ‖ ServerHello)
 * C -> S  PskProof      HMAC(pskKey_c, th)          (only after the server's proof checked)
 *         ---- both sides now hold traffic keys; everything below is encrypted ----
 * C -> S  Identity      client chain, staple, Sign_c("client" ‖ th)
 * S -> C  Identity      server chain, staple, Sign_s("server" ‖ th)   (after the client's checked)
 * ```
 *
 * Nobody shows a certificate or makes a signature before the peer proved the PSK, and
 * both sides start their (slow, RSA-4096) signature as soon as the PSK is proven, so the
 * two signatures run at the same time instead of one after the other.
 */
import { X509Certificate, constants as cryptoConstants, randomBytes, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { Duplex } from 'node:stream';
import {
  CLOSE_LINGER_MS,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_REKEY_AFTER_BYTES,
  DEFAULT_REKEY_AFTER_MS,
  INNER_TYPE,
  MAX_EARLY_RECORDS,
  MAX_RECORD_PAYLOAD,
  MIN_RSA_BITS,
  NONCE_BYTES,
  PROTOCOL_VERSION,
  RECORD_TYPE,
} from './constants.js';
import { SC_ERROR, SecureChannelError, asChannelError, protocolError } from './errors.js';
import {
  decodeAlert,
  decodeClientHello,
  decodeIdentity,
  decodePskProof,
  decodeServerHello,
  encodeClientHello,
  encodeIdentity,
  encodeRecord,
  encodeServerHello,
} from './handshake-codec.js';
import { deriveSessionSecrets, expandLabel, signedContent, transcriptHash } from './key-schedule.js';
import { RecordOpener, RecordSealer } from './record-protection.js';
import { RecordReader, type RawRecord } from './record-reader.js';
import { KeySharePool, keySharePool } from './key-share-pool.js';
import { DEFAULT_SUITES, SUITE_NAMES, recordCipherOf, suiteName, type KeyShare, type SuiteName } from './suites.js';

const MIN_PSK_BYTES = 16;
const MAX_PSK_BYTES = 64;
/**
 * Buffering allowed on each side of the channel (and queued in the underlying stream
 * before a writer waits): several full records, so one 64 KiB record in flight does not
 * turn every write into a pause/resume round (the 16 KiB stream default would).
 */
const STREAM_HIGH_WATER_MARK = 256 * 1024;
/**
 * Wire pieces smaller than this (headers, IVs, tags, MACs, small records) are joined with
 * their small neighbours before writing, so a record costs about one buffer in the
 * write queue (one writev entry), not four or five, while large ciphertexts are never copied.
 */
const JOIN_BELOW_BYTES = 2 * 1024;
/** Everything to write below this is joined into one buffer (measured: faster than the pieces for small records). */
const JOIN_ALL_BELOW_BYTES = 16 * 1024;
/**
 * A record made of more queued writes than this is copied into one buffer before sealing:
 * one cipher call per record instead of one per write (a 64 KiB memcpy costs far less
 * than 64 native calls and their output buffers).
 */
const MAX_SEAL_PIECES = 4;
/** Identity message overhead besides the DER bytes: counts, lengths, a 512-byte signature and slack. */
const IDENTITY_OVERHEAD = 1024;

export type SecureChannelRole = 'client' | 'server';

/** The answer of a certificate check (same shape as the kernel's CertificateVerdict). */
export interface PeerVerdict {
  ok: boolean;
  code?: string;
  reason?: string;
}

export interface SecureChannelIdentity {
  /** DER certificates, leaf first. The leaf's key must be RSA (>= 2048 bits) or Ed25519. */
  certificateChain: Buffer[];
  privateKey: KeyObject;
}

export interface SecureChannelOptions {
  /** The network secret (pre-shared key), 32 bytes expected (16..64 accepted). */
  psk: Buffer;
  identity: SecureChannelIdentity;
  /** Judges the peer's chain after its signature over the transcript verified. */
  verifyPeer: (chain: Buffer[], staple?: Buffer) => Promise<PeerVerdict>;
  /** Suites in order of preference; the server's order decides. @default DEFAULT_SUITES */
  suites?: readonly SuiteName[];
  /** @default 10 000 */
  handshakeTimeoutMs?: number;
  /** Send a key update after this many payload bytes under one key. @default 100 MiB */
  rekeyAfterBytes?: number;
  /** Send a key update when the send key is this old (checked when sending). @default 1 h */
  rekeyAfterMs?: number;
  /** A revocation proof sent with the certificate chain. */
  staple?: Buffer;
  /**
   * Reads the public key of the peer's leaf certificate (DER), before `verifyPeer` runs,
   * to check the transcript signature. A caller that keeps parsed certificates (the
   * identity verifier's `publicKeyOf`) passes it so a known peer's certificate is not
   * decoded again: OpenSSL 3 takes ~0.2 ms per RSA-4096 certificate. Throwing refuses the
   * certificate. @default parses with node:crypto's X509Certificate
   */
  peerPublicKey?: (leafDer: Buffer) => KeyObject;
  /** Where the handshake takes its one-use ephemeral key shares. @default the process's `keySharePool` */
  keySharePool?: KeySharePool;
}

export interface SecureChannelStats {
  /** Application bytes. */
  bytesSent: number;
  bytesReceived: number;
  /** Encrypted records (data, key updates, close...). */
  recordsSent: number;
  recordsReceived: number;
  /** Everything written to and read from the underlying stream. */
  wireBytesSent: number;
  wireBytesReceived: number;
  keyUpdatesSent: number;
  keyUpdatesReceived: number;
  handshakeMs: number;
}

interface ResolvedOptions {
  psk: Buffer;
  identity: SecureChannelIdentity;
  verifyPeer: SecureChannelOptions['verifyPeer'];
  suites: readonly SuiteName[];
  handshakeTimeoutMs: number;
  rekeyAfterBytes: number;
  rekeyAfterMs: number;
  staple: Buffer | undefined;
  peerPublicKey: (leafDer: Buffer) => KeyObject;
  keySharePool: KeySharePool;
}

function optionsError(message: string): SecureChannelError {
  return new SecureChannelError(SC_ERROR.OPTIONS, message);
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw optionsError(`${name} must be a positive number`);
  return value;
}

function resolveOptions(o: SecureChannelOptions): ResolvedOptions {
  if (!Buffer.isBuffer(o.psk) || o.psk.length < MIN_PSK_BYTES || o.psk.length > MAX_PSK_BYTES) {
    throw optionsError(`psk must be a Buffer of ${MIN_PSK_BYTES}..${MAX_PSK_BYTES} bytes`);
  }
  const chain = o.identity?.certificateChain;
  if (!Array.isArray(chain) || chain.length === 0) throw optionsError('identity.certificateChain must hold the leaf certificate');
  if (o.identity.privateKey?.type !== 'private') throw optionsError('identity.privateKey must be a private KeyObject');
  const identityBytes = chain.reduce((n, c) => n + c.length + 2, 0) + (o.staple?.length ?? 0);
  if (identityBytes + IDENTITY_OVERHEAD > MAX_RECORD_PAYLOAD) throw optionsError('certificate chain and staple do not fit one record');
  if (typeof o.verifyPeer !== 'function') throw optionsError('verifyPeer is required');
  if (o.peerPublicKey !== undefined && typeof o.peerPublicKey !== 'function') throw optionsError('peerPublicKey must be a function');
  if (o.keySharePool !== undefined && !(o.keySharePool instanceof KeySharePool)) throw optionsError('keySharePool must be a KeySharePool');
  const suites = o.suites ?? DEFAULT_SUITES;
  if (suites.length === 0) throw optionsError('suites must not be empty');
  for (const s of suites) if (!(s in SUITE_NAMES)) throw optionsError(`unknown suite ${s}`);
  if (new Set(suites).size !== suites.length) throw optionsError('suites must not repeat');
  return {
    psk: o.psk,
    identity: o.identity,
    verifyPeer: o.verifyPeer,
    suites,
    handshakeTimeoutMs: positive(o.handshakeTimeoutMs, DEFAULT_HANDSHAKE_TIMEOUT_MS, 'handshakeTimeoutMs'),
    rekeyAfterBytes: positive(o.rekeyAfterBytes, DEFAULT_REKEY_AFTER_BYTES, 'rekeyAfterBytes'),
    rekeyAfterMs: positive(o.rekeyAfterMs, DEFAULT_REKEY_AFTER_MS, 'rekeyAfterMs'),
    staple: o.staple,
    peerPublicKey: o.peerPublicKey ?? ((der) => new X509Certificate(der).publicKey),
    keySharePool: o.keySharePool ?? keySharePool,
  };
}

function signatureParams(key: KeyObject): { algorithm: string | null; padding?: number; saltLength?: number } {
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') {
    return { algorithm: 'sha256', padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
  }
  if (key.asymmetricKeyType === 'ed25519') return { algorithm: null };
  throw new SecureChannelError(SC_ERROR.BAD_CERTIFICATE, `certificate key type ${key.asymmetricKeyType} is not allowed`);
}

/** RSA-PSS (SHA-256, 32-byte salt) or Ed25519, on the libuv thread pool so both sides can sign at once. */
function signAsync(key: KeyObject, data: Buffer): Promise<Buffer> {
  const { algorithm, ...padding } = signatureParams(key);
  return new Promise((resolve, reject) => {
    sign(algorithm, data, { key, ...padding }, (err, signature) => (err ? reject(err) : resolve(signature)));
  });
}

function leafPublicKey(der: Buffer, read: (leafDer: Buffer) => KeyObject): KeyObject {
  let key: KeyObject;
  try {
    key = read(der);
  } catch (err) {
    throw new SecureChannelError(SC_ERROR.BAD_CERTIFICATE, 'peer certificate cannot be parsed', { cause: err });
  }
  signatureParams(key);
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (bits !== undefined && bits < MIN_RSA_BITS) throw new SecureChannelError(SC_ERROR.BAD_CERTIFICATE, `RSA key of ${bits} bits is too short`);
  return key;
}

type Phase = 'handshake' | 'open' | 'closed';

export class SecureChannel extends Duplex {
  /** Runs the client side of the handshake over `stream` (the side that opened it). */
  static connect(stream: Duplex, options: SecureChannelOptions): Promise<SecureChannel> {
    return SecureChannel.open(stream, 'client', options);
  }

  /** Runs the server side of the handshake over `stream`. */
  static accept(stream: Duplex, options: SecureChannelOptions): Promise<SecureChannel> {
    return SecureChannel.open(stream, 'server', options);
  }

  private static open(stream: Duplex, role: SecureChannelRole, options: SecureChannelOptions): Promise<SecureChannel> {
    let resolved: ResolvedOptions;
    try {
      resolved = resolveOptions(options);
    } catch (err) {
      stream.destroy();
      return Promise.reject(err);
    }
    return new SecureChannel(stream, role, resolved).ready;
  }

  readonly role: SecureChannelRole;
  readonly stats: SecureChannelStats = {
    bytesSent: 0,
    bytesReceived: 0,
    recordsSent: 0,
    recordsReceived: 0,
    wireBytesSent: 0,
    wireBytesReceived: 0,
    keyUpdatesSent: 0,
    keyUpdatesReceived: 0,
    handshakeMs: 0,
  };

  private readonly raw: Duplex;
  private readonly opts: ResolvedOptions;
  private readonly reader = new RecordReader();
  private readonly ready: Promise<SecureChannel>;
  private settleReady!: { resolve: (c: SecureChannel) => void; reject: (e: Error) => void };
  private phase: Phase = 'handshake';
  private failure: SecureChannelError | null = null;
  private early: RawRecord[] = [];
  private waiter: { resolve: (r: RawRecord) => void; reject: (e: Error) => void } | null = null;
  private handshakeTimer: NodeJS.Timeout | null = null;
  private lingerTimer: NodeJS.Timeout | null = null;
  private sealer: RecordSealer | null = null;
  private opener: RecordOpener | null = null;
  private exporter: Buffer | null = null;
  private chosenSuite: SuiteName | null = null;
  private peerChain: Buffer[] = [];
  private stapleFromPeer: Buffer | undefined;
  private outPieces: Buffer[] = [];
  /** Where many small writes are joined before sealing; the cipher copies it out at once, so it is reused. */
  private sealScratch: Buffer | null = null;
  private outBytes = 0;
  private flushScheduled = false;
  private heldWriteCallback: ((err?: Error | null) => void) | null = null;
  private readPaused = false;
  private closeSent = false;
  private closeReceived = false;
  private readonly startedAt = Date.now();

  private readonly onRawData = (chunk: Buffer): void => {
    this.stats.wireBytesReceived += chunk.length;
    this.reader.push(chunk);
    this.drainRecords();
  };
  private readonly onRawEnd = (): void => {
    if (!this.closeReceived) this.fail(new SecureChannelError(SC_ERROR.TRUNCATED, 'stream ended without a close record'), false);
  };
  private readonly onRawClose = (): void => {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = null;
    if (!this.closeReceived) this.fail(new SecureChannelError(SC_ERROR.TRUNCATED, 'stream closed without a close record'), false);
  };
  private readonly onRawError = (err: Error): void => {
    this.fail(new SecureChannelError(SC_ERROR.TRUNCATED, `stream failed: ${err.message}`, { cause: err }), false);
  };
  private readonly onRawDrain = (): void => {
    const cb = this.heldWriteCallback;
    this.heldWriteCallback = null;
    cb?.();
  };
  private readonly flushTick = (): void => {
    this.flushScheduled = false;
    if (this.phase !== 'open' || this.closeSent || this.outBytes === 0) return;
    try {
      this.flushOut(true);
    } catch (err) {
      this.fail(asChannelError(err), true);
    }
  };

  private constructor(raw: Duplex, role: SecureChannelRole, opts: ResolvedOptions) {
    // Half-open is off: a close record is answered with one (as in the original protocol).
    super({ allowHalfOpen: false, readableHighWaterMark: STREAM_HIGH_WATER_MARK, writableHighWaterMark: STREAM_HIGH_WATER_MARK });
    this.raw = raw;
    this.role = role;
    this.opts = opts;
    this.ready = new Promise((resolve, reject) => {
      this.settleReady = { resolve, reject };
    });
    raw.on('data', this.onRawData);
    raw.on('end', this.onRawEnd);
    raw.on('close', this.onRawClose);
    raw.on('error', this.onRawError);
    raw.on('drain', this.onRawDrain);
    // We coalesce small writes ourselves; Nagle's algorithm would only add a delay on top.
    const socketLike = raw as Duplex & { setNoDelay?: (noDelay?: boolean) => unknown };
    if (typeof socketLike.setNoDelay === 'function') socketLike.setNoDelay(true);
    this.handshakeTimer = setTimeout(() => {
      this.fail(new SecureChannelError(SC_ERROR.TIMEOUT, `handshake did not finish within ${opts.handshakeTimeoutMs} ms`), true);
    }, opts.handshakeTimeoutMs);
    const run = role === 'client' ? this.clientHandshake() : this.serverHandshake();
    run.then(
      () => this.finishHandshake(),
      (err: unknown) => this.fail(asChannelError(err), true),
    );
  }

  /** The negotiated suite. */
  get suite(): SuiteName {
    if (!this.chosenSuite) throw new SecureChannelError(SC_ERROR.CLOSED, 'handshake not finished');
    return this.chosenSuite;
  }

  /** The peer's certificate chain (DER, leaf first), verified by its signature and by verifyPeer. */
  get peerCertificateChain(): Buffer[] {
    return this.peerChain.slice();
  }

  get peerStaple(): Buffer | undefined {
    return this.stapleFromPeer;
  }

  /**
   * Keying material both ends share and nobody else can compute (channel binding);
   * different for every session, even with the same PSK.
   */
  exportKeyingMaterial(label: string, length: number): Buffer {
    if (!this.exporter) throw new SecureChannelError(SC_ERROR.CLOSED, 'handshake not finished');
    return expandLabel(this.exporter, `bitchat-sc1 export ${label}`, length);
  }

  /** Ratchets the send key now (it also happens by itself after rekeyAfterBytes / rekeyAfterMs). */
  updateKeys(): void {
    if (this.phase !== 'open' || this.closeSent) throw new SecureChannelError(SC_ERROR.CLOSED, 'channel is not open');
    this.flushOut(true);
    const wire: Buffer[] = [];
    this.sendKeyUpdate(wire);
    this.writeWire(wire);
  }

  // ---- handshake ---------------------------------------------------------------------

  private async clientHandshake(): Promise<void> {
    const { opts } = this;
    const shares = new Map<number, KeyShare>();
    for (const name of opts.suites) shares.set(SUITE_NAMES[name], opts.keySharePool.take(SUITE_NAMES[name]));
    const clientHelloRecord = encodeRecord(
      RECORD_TYPE.CLIENT_HELLO,
      encodeClientHello({
        version: PROTOCOL_VERSION,
        nonce: randomBytes(NONCE_BYTES),
        offers: [...shares.values()].map((s) => ({ suite: s.suite, share: s.share })),
      }),
    );
    this.writeRaw(clientHelloRecord);

    const shRecord = await this.expect(RECORD_TYPE.SERVER_HELLO);
    const sh = decodeServerHello(shRecord.body);
    if (sh.version !== PROTOCOL_VERSION) throw new SecureChannelError(SC_ERROR.VERSION, `server speaks version ${sh.version}`);
    const share = shares.get(sh.suite);
    if (!share) throw protocolError(`server chose suite ${sh.suite}, which was not offered`);
    const th = transcriptHash(clientHelloRecord, Buffer.concat([shRecord.header, shRecord.body]));
    const secrets = deriveSessionSecrets(share.computeSecret(sh.share), opts.psk, th);

    const proof = decodePskProof((await this.expect(RECORD_TYPE.PSK_PROOF)).body);
    if (!timingSafeEqual(proof, secrets.serverPskProof)) throw badPsk();
    // The proof goes out first: the server's signature waits for it. Queuing our signature can
    // cost this thread its core for a scheduler slice (~4 ms seen here) when the cores are busy.
    this.writeRaw(encodeRecord(RECORD_TYPE.PSK_PROOF, secrets.clientPskProof));
    // Then the (slow) signature, and the record keys while it runs.
    const signing = signAsync(opts.identity.privateKey, signedContent('client', th));
    signing.catch(() => undefined);
    this.installKeys(sh.suite, secrets.clientTraffic, secrets.serverTraffic, secrets.exporter);
    const signature = await signing;
    this.assertAlive();
    this.sendIdentity(signature);
    await this.verifyIdentity(await this.expectIdentity(), 'server', th);
  }

  private async serverHandshake(): Promise<void> {
    const { opts } = this;
    const chRecord = await this.expect(RECORD_TYPE.CLIENT_HELLO);
    const ch = decodeClientHello(chRecord.body);
    if (ch.version !== PROTOCOL_VERSION) throw new SecureChannelError(SC_ERROR.VERSION, `client speaks version ${ch.version}`);
    let offer: (typeof ch.offers)[number] | undefined;
    for (const name of opts.suites) {
      offer = ch.offers.find((o) => o.suite === SUITE_NAMES[name]);
      if (offer) break;
    }
    if (!offer) throw new SecureChannelError(SC_ERROR.NO_COMMON_SUITE, 'no suite in common with the client');
    const share = opts.keySharePool.take(offer.suite);
    const z = share.computeSecret(offer.share);
    const serverHelloRecord = encodeRecord(
      RECORD_TYPE.SERVER_HELLO,
      encodeServerHello({ version: PROTOCOL_VERSION, nonce: randomBytes(NONCE_BYTES), suite: offer.suite, share: share.share }),
    );
    const th = transcriptHash(Buffer.concat([chRecord.header, chRecord.body]), serverHelloRecord);
    const secrets = deriveSessionSecrets(z, opts.psk, th);
    this.writeRaw(Buffer.concat([serverHelloRecord, encodeRecord(RECORD_TYPE.PSK_PROOF, secrets.serverPskProof)]));

    const proof = decodePskProof((await this.expect(RECORD_TYPE.PSK_PROOF)).body);
    if (!timingSafeEqual(proof, secrets.clientPskProof)) throw badPsk();
    // Sign while the client signs and while its identity travels; send only after it checked out.
    // The signature starts first: it is the longest step and the handshake waits for it.
    const signing = signAsync(opts.identity.privateKey, signedContent('server', th));
    signing.catch(() => undefined);
    this.installKeys(offer.suite, secrets.serverTraffic, secrets.clientTraffic, secrets.exporter);
    await this.verifyIdentity(await this.expectIdentity(), 'client', th);
    const signature = await signing;
    this.assertAlive();
    this.sendIdentity(signature);
  }

  private installKeys(suite: number, sendTraffic: Buffer, receiveTraffic: Buffer, exporter: Buffer): void {
    const id = suite as Parameters<typeof recordCipherOf>[0];
    this.chosenSuite = suiteName(id);
    this.sealer = new RecordSealer(recordCipherOf(id), sendTraffic);
    this.opener = new RecordOpener(recordCipherOf(id), receiveTraffic);
    this.exporter = exporter;
  }

  private sendIdentity(signature: Buffer): void {
    const body = encodeIdentity({
      chain: this.opts.identity.certificateChain,
      ...(this.opts.staple ? { staple: this.opts.staple } : {}),
      signature,
    });
    this.writeWire(this.sealer!.seal(INNER_TYPE.IDENTITY, [body]));
    this.stats.recordsSent++;
  }

  private async verifyIdentity(body: Buffer, peerRole: SecureChannelRole, th: Buffer): Promise<void> {
    const identity = decodeIdentity(body);
    const key = leafPublicKey(identity.chain[0]!, this.opts.peerPublicKey);
    const { algorithm, ...padding } = signatureParams(key);
    if (!verify(algorithm, signedContent(peerRole, th), { key, ...padding }, identity.signature)) {
      throw new SecureChannelError(SC_ERROR.BAD_SIGNATURE, 'peer signature over the transcript does not verify');
    }
    let verdict: PeerVerdict;
    try {
      verdict = await this.opts.verifyPeer(identity.chain, identity.staple);
    } catch (err) {
      throw new SecureChannelError(SC_ERROR.BAD_CERTIFICATE, 'certificate check failed', { cause: err });
    }
    this.assertAlive();
    if (!verdict.ok) {
      throw new SecureChannelError(SC_ERROR.BAD_CERTIFICATE, `peer certificate refused${verdict.reason ? `: ${verdict.reason}` : ''}`, {
        ...(verdict.code ? { verdictCode: verdict.code } : {}),
      });
    }
    this.peerChain = identity.chain;
    this.stapleFromPeer = identity.staple;
  }

  private nextRecord(): Promise<RawRecord> {
    if (this.failure) return Promise.reject(this.failure);
    const rec = this.early.shift();
    if (rec) return Promise.resolve(rec);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** The next cleartext handshake record, which must be of `type`; a peer alert becomes an error. */
  private async expect(type: number): Promise<RawRecord> {
    const rec = await this.nextRecord();
    if (rec.type === RECORD_TYPE.ALERT) throw SecureChannelError.fromAlert(decodeAlert(rec.body));
    if (rec.type !== type) throw protocolError(`expected record 0x${type.toString(16)}, got 0x${rec.type.toString(16)}`);
    return rec;
  }

  private async expectIdentity(): Promise<Buffer> {
    const rec = await this.nextRecord();
    if (rec.type === RECORD_TYPE.ALERT) throw SecureChannelError.fromAlert(decodeAlert(rec.body));
    if (rec.type !== RECORD_TYPE.ENCRYPTED) throw protocolError('expected an encrypted identity');
    const { type, payload } = this.opener!.open(rec.header, rec.body);
    this.stats.recordsReceived++;
    if (type === INNER_TYPE.ALERT) throw SecureChannelError.fromAlert(decodeAlert(payload));
    if (type !== INNER_TYPE.IDENTITY) throw protocolError(`expected identity, got inner type ${type}`);
    return payload;
  }

  private assertAlive(): void {
    if (this.failure) throw this.failure;
  }

  private finishHandshake(): void {
    if (this.phase !== 'handshake') return;
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    this.phase = 'open';
    this.stats.handshakeMs = Date.now() - this.startedAt;
    this.raw.resume();
    const early = this.early;
    this.early = [];
    try {
      for (const rec of early) {
        if (this.closeReceived) break;
        this.processRecord(rec.type, rec.header, [rec.body], rec.body.length);
      }
    } catch (err) {
      // Resolve first so the caller holds the channel and sees the error as an 'error' event.
      this.settleReady.resolve(this);
      this.fail(asChannelError(err), true);
      return;
    }
    this.settleReady.resolve(this);
    this.drainRecords();
  }

  // ---- reading -----------------------------------------------------------------------

  private drainRecords(): void {
    try {
      for (;;) {
        if (this.phase === 'closed' || this.closeReceived) return;
        if (this.phase === 'open' && this.readPaused) return;
        if (this.phase === 'handshake') {
          const rec = this.reader.next();
          if (!rec) return;
          this.deliverHandshakeRecord(rec);
        } else {
          // Zero-copy: a record spanning two reads is opened piece by piece.
          const rec = this.reader.nextParts();
          if (!rec) return;
          this.processRecord(rec.type, rec.header, rec.parts, rec.length);
        }
      }
    } catch (err) {
      this.fail(asChannelError(err), true);
    }
  }

  private deliverHandshakeRecord(rec: RawRecord): void {
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = null;
      waiter.resolve(rec);
      return;
    }
    this.early.push(rec);
    // A peer may legitimately send data right after its identity; beyond that, stop reading.
    if (this.early.length >= MAX_EARLY_RECORDS) this.raw.pause();
  }

  private processRecord(recordType: number, header: Buffer, parts: readonly Buffer[], length: number): void {
    if (recordType !== RECORD_TYPE.ENCRYPTED) throw protocolError('cleartext record after the handshake');
    const { type, payload, length: payloadLength } = this.opener!.openParts(header, parts, length);
    this.stats.recordsReceived++;
    switch (type) {
      case INNER_TYPE.DATA: {
        if (payloadLength === 0) return;
        this.stats.bytesReceived += payloadLength;
        let more = true;
        for (const piece of payload) more = this.push(piece);
        if (!more) {
          this.readPaused = true;
          this.raw.pause();
        }
        return;
      }
      case INNER_TYPE.KEY_UPDATE:
        if (payloadLength !== 0) throw protocolError('key update carries no payload');
        this.opener!.update();
        this.stats.keyUpdatesReceived++;
        return;
      case INNER_TYPE.CLOSE:
        this.closeReceived = true;
        this.sendClose();
        this.push(null);
        return;
      case INNER_TYPE.ALERT:
        throw SecureChannelError.fromAlert(decodeAlert(Buffer.concat(payload, payloadLength)));
      default:
        throw protocolError(`unexpected inner record type ${type}`);
    }
  }

  override _read(): void {
    if (!this.readPaused) return;
    this.readPaused = false;
    this.raw.resume();
    this.drainRecords();
  }

  // ---- writing -----------------------------------------------------------------------

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.enqueue([chunk], callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (err?: Error | null) => void): void {
    this.enqueue(
      chunks.map((c) => c.chunk),
      callback,
    );
  }

  /**
   * Small writes in one burst are collected and sealed together on the next tick;
   * a full record's worth goes out at once. Back-pressure: the callback waits while the
   * underlying stream needs a drain.
   */
  private enqueue(buffers: Buffer[], callback: (err?: Error | null) => void): void {
    if (this.phase !== 'open' || this.closeSent) {
      callback(new SecureChannelError(SC_ERROR.CLOSED, 'channel is closed'));
      return;
    }
    for (const b of buffers) {
      if (b.length === 0) continue;
      this.outPieces.push(b);
      this.outBytes += b.length;
    }
    try {
      if (this.outBytes >= MAX_RECORD_PAYLOAD) this.flushOut(false);
    } catch (err) {
      const e = asChannelError(err);
      this.fail(e, true);
      callback(e);
      return;
    }
    if (this.outBytes > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flushTick);
    }
    // The stream's own high-water mark is often 16 KiB; we allow more before waiting. Wait
    // only when it also asked for a drain, or no 'drain' would ever come.
    if (this.raw.writableNeedDrain && this.raw.writableLength >= STREAM_HIGH_WATER_MARK) this.heldWriteCallback = callback;
    else callback();
  }

  override _final(callback: (err?: Error | null) => void): void {
    try {
      if (this.phase === 'open') this.sendClose();
      callback();
    } catch (err) {
      callback(asChannelError(err));
    }
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (this.phase !== 'closed') {
      this.phase = 'closed';
      this.clearHandshakeTimer();
      this.raw.removeListener('data', this.onRawData);
      // After a clean close the close record may still sit in the stream's buffer: let it
      // drain (endRaw's linger timer bounds that); otherwise the user aborted.
      if (!this.closeSent && !this.raw.destroyed) this.raw.destroy();
    }
    const held = this.heldWriteCallback;
    this.heldWriteCallback = null;
    held?.(err ?? new SecureChannelError(SC_ERROR.CLOSED, 'channel destroyed'));
    callback(err);
  }

  /** Seals everything queued (or only whole records when `all` is false) and writes it. */
  private flushOut(all: boolean): void {
    const sealer = this.sealer!;
    const wire: Buffer[] = [];
    while (this.outBytes >= MAX_RECORD_PAYLOAD || (all && this.outBytes > 0)) {
      const n = Math.min(MAX_RECORD_PAYLOAD, this.outBytes);
      const pieces = this.joinForSeal(this.takeOut(n), n);
      if (sealer.bytesThisKey >= this.opts.rekeyAfterBytes || Date.now() - sealer.keyCreatedAt >= this.opts.rekeyAfterMs) {
        this.sendKeyUpdate(wire);
      }
      for (const p of sealer.seal(INNER_TYPE.DATA, pieces)) wire.push(p);
      this.stats.recordsSent++;
      this.stats.bytesSent += n;
    }
    this.writeWire(wire);
  }

  private joinForSeal(pieces: Buffer[], n: number): Buffer[] {
    if (pieces.length <= MAX_SEAL_PIECES) return pieces;
    this.sealScratch ??= Buffer.allocUnsafe(MAX_RECORD_PAYLOAD);
    const scratch = this.sealScratch;
    let off = 0;
    for (const p of pieces) off += p.copy(scratch, off);
    return [scratch.subarray(0, n)];
  }

  private takeOut(n: number): Buffer[] {
    const out: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const head = this.outPieces[0]!;
      if (head.length <= need) {
        out.push(head);
        this.outPieces.shift();
        need -= head.length;
      } else {
        out.push(head.subarray(0, need));
        this.outPieces[0] = head.subarray(need);
        need = 0;
      }
    }
    this.outBytes -= n;
    return out;
  }

  private sendKeyUpdate(wire: Buffer[]): void {
    for (const p of this.sealer!.seal(INNER_TYPE.KEY_UPDATE, [])) wire.push(p);
    this.sealer!.update();
    this.stats.recordsSent++;
    this.stats.keyUpdatesSent++;
  }

  private sendClose(): void {
    if (this.closeSent) return;
    this.flushOut(true);
    this.closeSent = true;
    this.writeWire(this.sealer!.seal(INNER_TYPE.CLOSE, []));
    this.stats.recordsSent++;
    this.endRaw();
  }

  private writeWire(pieces: Buffer[]): void {
    if (pieces.length === 0 || this.raw.writableEnded || this.raw.destroyed) return;
    let total = 0;
    for (const p of pieces) total += p.length;
    if (total < JOIN_ALL_BELOW_BYTES) {
      // Small records (a chat message): one buffer, one write; the copy is cheaper than the pieces.
      this.stats.wireBytesSent += total;
      this.raw.write(Buffer.concat(pieces, total));
      return;
    }
    const out = joinSmall(pieces);
    if (out.length === 1) {
      this.stats.wireBytesSent += out[0]!.length;
      this.raw.write(out[0]!);
      return;
    }
    // Corked: the stream hands all pieces to one writev.
    this.raw.cork();
    for (const p of out) {
      this.stats.wireBytesSent += p.length;
      this.raw.write(p);
    }
    this.raw.uncork();
  }

  private writeRaw(buf: Buffer): void {
    if (this.raw.writableEnded || this.raw.destroyed) return;
    this.stats.wireBytesSent += buf.length;
    this.raw.write(buf);
  }

  /** Half-closes the stream and gives the peer a moment to close its side before destroying it. */
  private endRaw(): void {
    if (this.raw.destroyed) return;
    if (!this.raw.writableEnded) this.raw.end();
    if (!this.lingerTimer) {
      this.lingerTimer = setTimeout(() => {
        this.lingerTimer = null;
        this.raw.destroy();
      }, CLOSE_LINGER_MS);
      this.lingerTimer.unref();
    }
  }

  private clearHandshakeTimer(): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
  }

  // ---- failure -----------------------------------------------------------------------

  /**
   * Every failure ends here: tell the peer (when `report` and the error has an alert),
   * close the stream, and surface the error (a rejected handshake or an 'error' event).
   */
  private fail(err: SecureChannelError, report: boolean): void {
    if (this.phase === 'closed') return;
    const wasHandshake = this.phase === 'handshake';
    this.phase = 'closed';
    this.failure = err;
    this.clearHandshakeTimer();
    this.raw.removeListener('data', this.onRawData);
    this.early = [];
    const alert = err.alert;
    if (report && alert !== undefined && !this.closeSent) {
      try {
        if (this.sealer) this.writeWire(this.sealer.seal(INNER_TYPE.ALERT, [Buffer.from([alert])]));
        else this.writeRaw(encodeRecord(RECORD_TYPE.ALERT, Buffer.from([alert])));
      } catch {
        // The stream is gone; nothing more to tell.
      }
    }
    this.closeSent = true;
    this.endRaw();
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.reject(err);
    if (wasHandshake) {
      this.settleReady.reject(err);
      this.destroy();
    } else {
      this.destroy(err);
    }
  }
}

/** Joins runs of adjacent small pieces into one buffer each; large pieces pass through uncopied. */
function joinSmall(pieces: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  let runStart = 0;
  let runBytes = 0;
  const closeRun = (end: number): void => {
    if (end - runStart === 1) out.push(pieces[runStart]!);
    else if (end > runStart) out.push(Buffer.concat(pieces.slice(runStart, end), runBytes));
  };
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i]!;
    if (p.length < JOIN_BELOW_BYTES) {
      runBytes += p.length;
      continue;
    }
    closeRun(i);
    out.push(p);
    runStart = i + 1;
    runBytes = 0;
  }
  closeRun(pieces.length);
  return out;
}

function badPsk(): SecureChannelError {
  return new SecureChannelError(SC_ERROR.BAD_PSK, 'PSK proof failed: wrong network secret or an altered handshake');
}
