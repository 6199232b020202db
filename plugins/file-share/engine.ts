/**
 * One node's file sharing: the files it knows, the peers it has links to,
 * serving block requests, and driving a DownloadScheduler per download. It
 * knows nothing of chats or sockets: it talks to peers through `PeerLink`
 * (a chat session supplies one per member; tests use loopback TCP) and the
 * owner feeds it the file-share messages that arrive (`handleMessage`).
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { promises as fsp } from 'node:fs';
import type { Duplex } from 'node:stream';
import { Bitfield } from './bitfield.js';
import { HASH_ALGORITHM } from './constants.js';
import { FILE_SHARE_ERRORS, FileShareError } from './errors.js';
import { hashFile, type HashOptions } from './hasher.js';
import { blockCount, blockLength, decodeMetadata, fileIdOf, type FileMetadata } from './metadata.js';
import { reserveDownloadPath } from './sanitize.js';
import { DownloadScheduler } from './scheduler.js';
import { BlockWriter, type FileShareStore, type FileState, type FsyncPolicy, type OpenBlockFile } from './store.js';
import {
  BlockStreamDecoder, FRAME_HEADER_BYTES, type BlockFrameHeader, FRAME_KINDS, MESSAGE_TYPES, REJECT_REASONS, allocBlockFrame, decodeMessage, encodeBlockFrame,
  encodeMessage, type BlockFrame, type FileShareMessage,
} from './wire.js';

/** Advertised-but-not-downloaded files kept; more are refused, so a peer cannot grow the database without bound. */
const MAX_PENDING_ADVERTISEMENTS = 1_000;
/** Requests queued per peer before further ones are refused as BUSY. */
const MAX_UPLOAD_QUEUE = 256;
/** Largest single write on a block stream. */
const WRITE_PIECE = 60 * 1024;
/**
 * Bytes of block reads an upload keeps in flight ahead of the socket (at least one
 * read): one read at a time left the link idle for a thread-pool round trip per block.
 * Also the most one coalesced read takes.
 */
const READ_AHEAD_BYTES = 1024 * 1024;
/** Cap on those reads, by count (scattered small blocks). */
const MAX_READ_AHEAD = 8;
/**
 * How long a cancelled request may still be answered: the peer may have sent the
 * block before our CANCEL arrived. A BLOCK frame for a block that was never asked
 * of that peer, or whose grace ran out, breaks the link.
 */
const CANCEL_GRACE_FACTOR = 2;
/** Asked-for entries per peer above which expired ones are swept. */
const ASKED_SWEEP_AT = 512;
/** Window over which the download rate is measured. */
const RATE_WINDOW_MS = 1_000;

/** What the engine needs from one link to one peer (one chat session, in the product). */
export interface PeerLink {
  /** Unique per link on this node; also orders stripes, so it must be the same ID the peer's engine is told as its `selfId`. */
  readonly peerId: string;
  /** Who the peer is, for people (an e-mail; several nodes may share one). @default peerId */
  readonly identity?: string;
  /**
   * Sends one file-share chat message (type byte ‖ payload) to the peer, in order.
   * `chats`: the chats the message is about (advertisements): a link merged over several
   * chats sends it through one of those, so the receiver learns the file's chat.
   */
  sendMessage(message: Buffer, chats?: ReadonlySet<string>): void;
  /** The block stream with the peer: we write frames, and read the frames it sends. */
  readonly blocks: Duplex;
  /** Tears the link down (after a protocol violation). */
  close(): void;
  /**
   * Chats this link's peer shares with us. When set, files shared in or advertised
   * from other chats are neither announced to nor served over this link. Unset: all.
   */
  readonly chats?: ReadonlySet<string>;
}

export interface FileShareEngineOptions {
  /** This node's ID as its peers know it. */
  selfId: string;
  store: FileShareStore;
  downloadDir: string;
  /** Largest file accepted from an advertisement. */
  maxFileSize?: number;
  /** Requests in flight per peer. @default 32 */
  pipeline?: number;
  /** @default 30000 */
  requestTimeoutMs?: number;
  /** Bad blocks before a peer is banned from a download. @default 3 */
  maxStrikes?: number;
  /** @default 'batch' */
  fsync?: FsyncPolicy;
  /** Start downloading every advertised file at once (headless nodes, tests). @default false */
  autoDownload?: boolean;
  /** Minimum time between progress events of one file. @default 250 */
  progressIntervalMs?: number;
  /** File opener for `.part` files (tests inject failures). */
  openBlockFile?: OpenBlockFile;
}

export interface FileInfo {
  fileId: string;
  name: string;
  size: number;
  mimeType: string;
  state: FileState;
  origin: 'local' | 'remote';
  path: string | null;
  blocks: number;
  blockCount: number;
  bytes: number;
  error: string | null;
}

export interface FileProgress {
  fileId: string;
  name: string;
  state: FileState;
  bytes: number;
  size: number;
  blocks: number;
  blockCount: number;
  /** Peers we requested from or received from. */
  peers: number;
  /** Bytes per second over the last window. */
  rate: number;
}

export interface FileShareEngineStats {
  uploadedBytes: number;
  downloadedBytes: number;
  blocksVerified: number;
  badBlocks: number;
  requestsServed: number;
  requestsRefused: number;
  badMessages: number;
  badFrames: number;
  advertisementsRefused: number;
  peersBanned: number;
}

export interface FileShareEvents {
  /** A new file was offered; the string is who offered it (the link's identity). */
  advertised: [FileInfo, string];
  advertisementRefused: [{ peerId: string; error: FileShareError }];
  progress: [FileProgress];
  block: [{ fileId: string; block: number; peerId: string }];
  badBlock: [{ fileId: string; block: number; peerId: string }];
  peerBanned: [{ fileId: string; peerId: string }];
  complete: [FileInfo];
  /** A download stopped on an error (disk full...) and is paused. Not 'error': EventEmitter throws those when unheard. */
  downloadFailed: [{ fileId: string; error: FileShareError }];
}

interface FileEntry {
  id: Buffer;
  key: string;
  meta: FileMetadata;
  advertisement: Buffer;
  state: FileState;
  origin: 'local' | 'remote';
  path: string | null;
  partPath: string | null;
  have: Bitfield;
  /** What each peer holds, kept while not downloading too, so a download starts knowing its holders. */
  peerBits: Map<string, Bitfield>;
  /** Chats the file was shared in or advertised from (empty: not scoped). */
  chats: Set<string>;
  writer: BlockWriter | null;
  scheduler: DownloadScheduler | null;
  /** Read handle of a complete file, opened once on first use. */
  reader: Promise<fsp.FileHandle> | null;
  finishing: boolean;
  error: string | null;
  lastProgress: number;
  rateSince: number;
  rateBytes: number;
  rate: number;
}

interface UploadJob {
  entry: FileEntry;
  block: number;
}

/**
 * The answers owed for one block by one peer: requests still open, and cancelled ones
 * (their answer may already be on its way) welcome until `until`. The peer answers in
 * the order it was asked, so a cancelled request's answer comes first.
 */
interface Asked {
  open: number;
  cancelled: number;
  until: number;
}

interface PeerEntry {
  link: PeerLink;
  decoder: BlockStreamDecoder;
  /** Answers this peer may still send, per `fileId:block` (a block may be asked again while an earlier ask is owed). */
  asked: Map<string, Asked>;
  queue: UploadJob[];
  uploading: boolean;
  closed: boolean;
  uploadedBytes: number;
  receivedBytes: number;
  detach(): void;
}

export class FileShareEngine extends EventEmitter<FileShareEvents> {
  readonly stats: FileShareEngineStats = {
    uploadedBytes: 0, downloadedBytes: 0, blocksVerified: 0, badBlocks: 0, requestsServed: 0, requestsRefused: 0,
    badMessages: 0, badFrames: 0, advertisementsRefused: 0, peersBanned: 0,
  };
  readonly #o: FileShareEngineOptions;
  readonly #files = new Map<string, FileEntry>();
  readonly #peers = new Map<string, PeerEntry>();
  #closed = false;
  #selfId: string;

  constructor(options: FileShareEngineOptions) {
    super();
    this.#o = options;
    this.#selfId = options.selfId;
  }

  get selfId(): string {
    return this.#selfId;
  }

  /** The chat layer learns the node's identity after the engine started; downloads begun from now on order stripes on it. */
  set selfId(id: string) {
    this.#selfId = id;
  }

  /** Loads known files from the store and resumes active downloads. */
  async start(): Promise<void> {
    for (const r of this.#o.store.list()) {
      const meta = decodeMetadata(r.advertisement);
      const n = blockCount(meta.size, meta.blockSize);
      const entry = this.#entry(r.fileId, meta, r.advertisement, r.state, r.origin);
      entry.path = r.path;
      entry.partPath = r.partPath;
      entry.error = r.error;
      for (const chat of this.#o.store.chatsOf(r.fileId)) entry.chats.add(chat);
      entry.have = r.state === 'done' ? Bitfield.full(n) : new Bitfield(n, r.bitmap);
      if (r.state === 'active') {
        entry.state = 'paused';
        await this.download(entry.key);
      }
    }
  }

  /** Stops every download (flushing what is written) and drops every link. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const peerId of [...this.#peers.keys()]) this.removePeer(peerId, true);
    for (const entry of this.#files.values()) {
      entry.scheduler?.close();
      entry.scheduler = null;
      const writer = entry.writer;
      entry.writer = null;
      if (writer) {
        await writer.close().catch(() => undefined);
        // What counts after a restart is what the store holds.
        entry.have = new Bitfield(entry.have.size, this.#o.store.get(entry.id)?.bitmap ?? Buffer.alloc(0));
      }
      await closeReader(entry);
    }
  }

  // ---- peers ----

  addPeer(link: PeerLink): void {
    if (this.#closed) throw new FileShareError(FILE_SHARE_ERRORS.BAD_STATE, 'engine is closed');
    this.removePeer(link.peerId);
    const onData = (chunk: Buffer): void => this.#onBlockData(peer, chunk);
    const onEnd = (): void => this.removePeer(link.peerId);
    const asked = new Map<string, Asked>();
    const peer: PeerEntry = {
      link, decoder: new BlockStreamDecoder(undefined, (h) => this.#checkFrame(asked, h)), asked, queue: [], uploading: false, closed: false, uploadedBytes: 0, receivedBytes: 0,
      detach: () => {
        link.blocks.off('data', onData);
        link.blocks.off('close', onEnd);
        link.blocks.off('error', onEnd);
      },
    };
    this.#peers.set(link.peerId, peer);
    link.blocks.on('data', onData);
    link.blocks.on('close', onEnd);
    link.blocks.on('error', onEnd);
    for (const entry of this.#files.values()) {
      if (!inScope(entry, link)) continue;
      if (entry.state === 'done') this.#send(peer, { type: MESSAGE_TYPES.ADVERTISE, advertisement: entry.advertisement }, entry.chats);
      else if (entry.state === 'active') this.#send(peer, this.#bitfieldOf(entry, true));
    }
  }

  /** The link is gone: requests to it are re-queued, queued uploads dropped. */
  removePeer(peerId: string, closeLink = false): void {
    const peer = this.#peers.get(peerId);
    if (!peer) return;
    this.#peers.delete(peerId);
    peer.closed = true;
    peer.queue.length = 0;
    peer.detach();
    for (const entry of this.#files.values()) {
      entry.peerBits.delete(peerId);
      entry.scheduler?.removePeer(peerId);
    }
    if (closeLink) peer.link.close();
  }

  /** IDs of the peers linked now. */
  get peers(): string[] {
    return [...this.#peers.keys()];
  }

  /** Bytes this node sent to a peer on its block stream. */
  uploadedTo(peerId: string): number {
    return this.#peers.get(peerId)?.uploadedBytes ?? 0;
  }

  /**
   * A file-share chat message from a peer (the chat layer's message hook calls this).
   * `chat`: the chat it arrived in, when known; an advertised file belongs to that chat
   * (else to every chat of the link).
   */
  handleMessage(peerId: string, message: Buffer, chat?: string): void {
    const peer = this.#peers.get(peerId);
    if (!peer || this.#closed) return;
    let msg: FileShareMessage;
    try {
      msg = decodeMessage(message);
    } catch {
      this.stats.badMessages++;
      return;
    }
    if (msg.type === MESSAGE_TYPES.ADVERTISE) {
      this.#onAdvertise(peer, msg.advertisement, chat);
      return;
    }
    const entry = this.#files.get(msg.fileId.toString('hex'));
    // A peer outside the file's chats is not told of it, so it has no business asking.
    if (!entry || !inScope(entry, peer.link)) return;
    const n = entry.have.size;
    switch (msg.type) {
      case MESSAGE_TYPES.BITFIELD: {
        if (msg.blockCount !== n) {
          this.stats.badMessages++;
          return;
        }
        const bits = new Bitfield(n, msg.bits);
        entry.peerBits.set(peerId, bits);
        entry.scheduler?.setPeerBits(peerId, bits);
        if (msg.reply && (entry.state === 'active' || entry.state === 'done')) this.#send(peer, this.#bitfieldOf(entry, false));
        return;
      }
      case MESSAGE_TYPES.LEAVE:
        entry.peerBits.delete(peerId);
        entry.scheduler?.removePeer(peerId);
        peer.queue = peer.queue.filter((q) => q.entry !== entry);
        return;
      case MESSAGE_TYPES.HAVE: {
        if (msg.block >= n) {
          this.stats.badMessages++;
          return;
        }
        let bits = entry.peerBits.get(peerId);
        if (!bits) entry.peerBits.set(peerId, (bits = new Bitfield(n)));
        bits.set(msg.block);
        entry.scheduler?.peerHas(peerId, msg.block);
        return;
      }
      case MESSAGE_TYPES.REQUEST:
        this.#enqueueUpload(peer, entry, msg.block);
        return;
      case MESSAGE_TYPES.CANCEL:
        peer.queue = peer.queue.filter((q) => !(q.entry === entry && q.block === msg.block));
        return;
    }
  }

  // ---- the API ----

  /** Hashes a local file and offers it to every linked peer. */
  async share(path: string, options: HashOptions & { chat?: string } = {}): Promise<FileInfo> {
    const hashed = await hashFile(path, options);
    const key = hashed.fileId.toString('hex');
    let entry = this.#files.get(key);
    if (entry) {
      entry.scheduler?.close();
      entry.scheduler = null;
      await entry.writer?.close().catch(() => undefined);
      entry.writer = null;
    } else {
      entry = this.#entry(hashed.fileId, hashed.metadata, hashed.advertisement, 'done', 'local');
    }
    Object.assign(entry, { state: 'done', origin: 'local', path, partPath: null, have: Bitfield.full(entry.have.size), error: null });
    this.#persist(entry);
    if (options.chat !== undefined) {
      entry.chats.add(options.chat);
      this.#o.store.addChat(entry.id, options.chat);
    }
    this.#broadcast(entry, { type: MESSAGE_TYPES.ADVERTISE, advertisement: entry.advertisement });
    return this.#info(entry);
  }

  list(): FileInfo[] {
    return [...this.#files.values()].map((e) => this.#info(e));
  }

  get(fileId: string): FileInfo | undefined {
    const e = this.#files.get(fileId);
    return e ? this.#info(e) : undefined;
  }

  /** Starts (or resumes) downloading an advertised file into the download folder. */
  async download(fileId: string): Promise<void> {
    const entry = this.#need(fileId);
    if (entry.state === 'done' || entry.state === 'active') return;
    const maxSize = this.#o.maxFileSize;
    if (maxSize !== undefined && entry.meta.size > maxSize) {
      throw new FileShareError(FILE_SHARE_ERRORS.TOO_LARGE, `${entry.meta.name} (${entry.meta.size} bytes) exceeds the ${maxSize}-byte limit`);
    }
    let bitmap = this.#o.store.get(entry.id)?.bitmap ?? Buffer.alloc(0);
    if (!entry.partPath || !(await exists(entry.partPath))) {
      const reserved = await reserveDownloadPath(this.#o.downloadDir, entry.meta.name);
      entry.path = reserved.finalPath;
      entry.partPath = reserved.partPath;
      bitmap = Buffer.alloc(0);
    }
    const writer = await BlockWriter.open(this.#o.store, entry.id, entry.meta, entry.partPath, bitmap, {
      ...(this.#o.fsync ? { fsync: this.#o.fsync } : {}),
      ...(this.#o.openBlockFile ? { open: this.#o.openBlockFile } : {}),
    });
    // The engine may have closed (node stopping) while the file was opened: it must not stay open.
    if (this.#closed) {
      await writer.close().catch(() => undefined);
      return;
    }
    entry.writer = writer;
    entry.have = entry.writer.written;
    entry.state = 'active';
    entry.error = null;
    this.#persist(entry);
    const scheduler = new DownloadScheduler({
      selfId: this.#selfId,
      blockCount: entry.have.size,
      have: entry.have,
      ...(this.#o.pipeline ? { pipeline: this.#o.pipeline } : {}),
      ...(this.#o.requestTimeoutMs ? { requestTimeoutMs: this.#o.requestTimeoutMs } : {}),
      ...(this.#o.maxStrikes ? { maxStrikes: this.#o.maxStrikes } : {}),
      request: (peerId, block) => this.#request(entry, peerId, block),
      cancel: (peerId, block) => this.#cancelRequest(entry, peerId, block),
      onBan: (peerId) => {
        this.stats.peersBanned++;
        this.emit('peerBanned', { fileId: entry.key, peerId });
      },
    });
    entry.scheduler = scheduler;
    for (const [peerId, bits] of entry.peerBits) if (this.#peers.has(peerId)) scheduler.setPeerBits(peerId, bits);
    this.#broadcast(entry, this.#bitfieldOf(entry, true));
    if (entry.have.complete) await this.#complete(entry);
  }

  async pause(fileId: string): Promise<void> {
    const entry = this.#need(fileId);
    if (entry.state !== 'active') return;
    await this.#stop(entry, 'paused');
  }

  async resume(fileId: string): Promise<void> {
    const entry = this.#need(fileId);
    if (entry.state !== 'paused') throw new FileShareError(FILE_SHARE_ERRORS.BAD_STATE, `${entry.meta.name} is ${entry.state}, not paused`);
    await this.download(fileId);
  }

  /** Stops a download and deletes its `.part`, or stops sharing a file. */
  async cancel(fileId: string): Promise<void> {
    const entry = this.#need(fileId);
    if (entry.state === 'active') await this.#stop(entry, 'cancelled');
    if (entry.partPath) await fsp.rm(entry.partPath, { force: true });
    await closeReader(entry);
    if (entry.origin === 'remote' && entry.state !== 'done') entry.path = null;
    Object.assign(entry, { state: 'cancelled', partPath: null, have: new Bitfield(entry.have.size) });
    this.#persist(entry);
    this.#broadcast(entry, { type: MESSAGE_TYPES.LEAVE, fileId: entry.id });
  }

  // ---- internals ----

  #entry(id: Buffer, meta: FileMetadata, advertisement: Buffer, state: FileState, origin: 'local' | 'remote'): FileEntry {
    const n = blockCount(meta.size, meta.blockSize);
    const entry: FileEntry = {
      id, key: id.toString('hex'), meta, advertisement, state, origin, path: null, partPath: null,
      have: state === 'done' ? Bitfield.full(n) : new Bitfield(n), peerBits: new Map(), chats: new Set(), writer: null, scheduler: null,
      reader: null, finishing: false, error: null, lastProgress: 0, rateSince: Date.now(), rateBytes: 0, rate: 0,
    };
    this.#files.set(entry.key, entry);
    return entry;
  }

  #need(fileId: string): FileEntry {
    const entry = this.#files.get(fileId);
    if (!entry) throw new FileShareError(FILE_SHARE_ERRORS.UNKNOWN_FILE, `file ${fileId} is not known`);
    return entry;
  }

  #persist(entry: FileEntry): void {
    this.#o.store.put({
      fileId: entry.id, advertisement: entry.advertisement, name: entry.meta.name, size: entry.meta.size, state: entry.state,
      origin: entry.origin, path: entry.path, partPath: entry.partPath, bitmap: entry.writer ? this.#o.store.get(entry.id)?.bitmap ?? entry.have.bytes : entry.have.bytes,
      error: entry.error,
    });
  }

  #info(e: FileEntry): FileInfo {
    return {
      fileId: e.key, name: e.meta.name, size: e.meta.size, mimeType: e.meta.mimeType, state: e.state, origin: e.origin,
      path: e.state === 'done' ? e.path : null, blocks: e.have.count, blockCount: e.have.size, bytes: this.#bytesOf(e), error: e.error,
    };
  }

  #bytesOf(e: FileEntry): number {
    const n = e.have.size;
    if (n === 0) return 0;
    let bytes = e.have.count * e.meta.blockSize;
    if (e.have.has(n - 1)) bytes -= e.meta.blockSize - blockLength(e.meta, n - 1);
    return bytes;
  }

  #bitfieldOf(entry: FileEntry, reply: boolean): FileShareMessage {
    return { type: MESSAGE_TYPES.BITFIELD, reply, fileId: entry.id, blockCount: entry.have.size, bits: entry.have.bytes };
  }

  #send(peer: PeerEntry, msg: FileShareMessage, chats?: ReadonlySet<string>): void {
    if (!peer.closed) peer.link.sendMessage(encodeMessage(msg), chats?.size ? chats : undefined);
  }

  /** Sends to every linked peer in the file's chats. */
  #broadcast(entry: FileEntry, msg: FileShareMessage): void {
    const bytes = encodeMessage(msg);
    const chats = entry.chats.size ? entry.chats : undefined;
    for (const peer of this.#peers.values()) if (!peer.closed && inScope(entry, peer.link)) peer.link.sendMessage(bytes, chats);
  }

  #onAdvertise(peer: PeerEntry, advertisement: Buffer, chat: string | undefined): void {
    let meta: FileMetadata;
    try {
      meta = decodeMetadata(advertisement, this.#o.maxFileSize !== undefined ? { maxFileSize: this.#o.maxFileSize } : {});
    } catch (err) {
      this.stats.advertisementsRefused++;
      if (err instanceof FileShareError) this.emit('advertisementRefused', { peerId: peer.link.peerId, error: err });
      return;
    }
    const id = fileIdOf(advertisement);
    const key = id.toString('hex');
    let entry = this.#files.get(key);
    const full = Bitfield.full(blockCount(meta.size, meta.blockSize));
    if (!entry) {
      let pending = 0;
      for (const e of this.#files.values()) if (e.state === 'advertised') pending++;
      if (pending >= MAX_PENDING_ADVERTISEMENTS) {
        this.stats.advertisementsRefused++;
        this.emit('advertisementRefused', { peerId: peer.link.peerId, error: new FileShareError(FILE_SHARE_ERRORS.TOO_LARGE, `more than ${MAX_PENDING_ADVERTISEMENTS} advertised files pending`) });
        return;
      }
      entry = this.#entry(id, meta, advertisement, 'advertised', 'remote');
      entry.peerBits.set(peer.link.peerId, full);
      // The chat it came in, if it is one we share with this peer; else all we share.
      if (chat !== undefined && (!peer.link.chats || peer.link.chats.has(chat))) entry.chats.add(chat);
      else for (const c of peer.link.chats ?? []) entry.chats.add(c);
      this.#persist(entry);
      for (const chat of entry.chats) this.#o.store.addChat(entry.id, chat);
      this.emit('advertised', this.#info(entry), peer.link.identity ?? peer.link.peerId);
      if (this.#o.autoDownload) this.download(key).catch((err: unknown) => this.#fail(entry!, err, true));
      return;
    }
    entry.peerBits.set(peer.link.peerId, full);
    entry.scheduler?.setPeerBits(peer.link.peerId, full);
  }

  #enqueueUpload(peer: PeerEntry, entry: FileEntry, block: number): void {
    let reason = 0;
    if (entry.state === 'paused' || entry.state === 'cancelled') reason = REJECT_REASONS.PAUSED;
    else if (!entry.have.has(block)) reason = REJECT_REASONS.NOT_AVAILABLE;
    else if (entry.scheduler?.isBanned(peer.link.peerId)) reason = REJECT_REASONS.BANNED;
    else if (peer.queue.length >= MAX_UPLOAD_QUEUE) reason = REJECT_REASONS.BUSY;
    if (reason !== 0) {
      this.#reject(peer, entry, block, reason);
      return;
    }
    peer.queue.push({ entry, block });
    void this.#pump(peer);
  }

  #reject(peer: PeerEntry, entry: FileEntry, block: number, reason: number): void {
    this.stats.requestsRefused++;
    if (!peer.closed) peer.link.blocks.write(encodeBlockFrame({ kind: FRAME_KINDS.REJECT, fileId: entry.id, block, reason }));
  }

  /**
   * Serves the peer's queued requests in order, reading ahead while earlier frames go
   * out. Requests for contiguous blocks of one file (the scheduler asks in runs) are
   * read with one `readv` into their frames.
   */
  async #pump(peer: PeerEntry): Promise<void> {
    if (peer.uploading) return;
    peer.uploading = true;
    const reads: Array<{ jobs: UploadJob[]; bytes: number; frames: Promise<Buffer[] | null> }> = [];
    let readingBytes = 0;
    try {
      while (!peer.closed) {
        while (peer.queue.length > 0 && reads.length < MAX_READ_AHEAD && readingBytes < READ_AHEAD_BYTES) {
          const jobs = takeRun(peer.queue);
          const bytes = jobs.reduce((n, j) => n + blockLength(j.entry.meta, j.block), 0);
          readingBytes += bytes;
          reads.push({ jobs, bytes, frames: this.#readFrames(jobs[0]!.entry, jobs[0]!.block, jobs.length).catch(() => null) });
        }
        const next = reads.shift();
        if (!next) break;
        const frames = await next.frames;
        readingBytes -= next.bytes;
        if (peer.closed) break;
        if (!frames) {
          for (const job of next.jobs) this.#reject(peer, job.entry, job.block, REJECT_REASONS.NOT_AVAILABLE);
          continue;
        }
        let flowing = true;
        for (const frame of frames) flowing = writeFrame(peer.link.blocks, frame);
        peer.uploadedBytes += next.bytes;
        this.stats.uploadedBytes += next.bytes;
        this.stats.requestsServed += frames.length;
        if (!flowing) await waitDrain(peer.link.blocks);
      }
    } finally {
      peer.uploading = false;
    }
    // A request may have been queued after the loop saw an empty queue.
    if (peer.queue.length > 0 && !peer.closed) void this.#pump(peer);
  }

  /** Whole BLOCK frames (header and data) for `count` blocks from `first`, the data read straight into them. */
  async #readFrames(entry: FileEntry, first: number, count: number): Promise<Buffer[]> {
    const frames: Buffer[] = [];
    for (let b = first; b < first + count; b++) {
      if (!entry.have.has(b)) throw new FileShareError(FILE_SHARE_ERRORS.BAD_STATE, 'block not held');
      frames.push(allocBlockFrame(entry.id, b, blockLength(entry.meta, b)));
    }
    const writer = entry.writer;
    if (writer) {
      await Promise.all(frames.map((frame, i) => writer.readBlock(first + i, frame, FRAME_HEADER_BYTES)));
      return frames;
    }
    if (!entry.path) throw new FileShareError(FILE_SHARE_ERRORS.BAD_STATE, 'no file to read');
    if (this.#closed) throw new FileShareError(FILE_SHARE_ERRORS.BAD_STATE, 'engine is closed');
    const opening = (entry.reader ??= fsp.open(entry.path, 'r'));
    opening.catch(() => { if (entry.reader === opening) entry.reader = null; });
    const handle = await opening;
    const views = frames.map((f) => f.subarray(FRAME_HEADER_BYTES));
    const want = views.reduce((n, v) => n + v.length, 0);
    const { bytesRead } = await handle.readv(views, first * entry.meta.blockSize);
    if (bytesRead !== want) throw new FileShareError(FILE_SHARE_ERRORS.BAD_STATE, 'shared file shrank');
    return frames;
  }

  #request(entry: FileEntry, peerId: string, block: number): void {
    const peer = this.#peers.get(peerId);
    if (!peer) return;
    const key = askedKey(entry.key, block);
    const owed = peer.asked.get(key);
    if (owed) owed.open++;
    else peer.asked.set(key, { open: 1, cancelled: 0, until: 0 });
    this.#send(peer, { type: MESSAGE_TYPES.REQUEST, fileId: entry.id, block });
  }

  #cancelRequest(entry: FileEntry, peerId: string, block: number): void {
    const peer = this.#peers.get(peerId);
    if (!peer) return;
    const owed = peer.asked.get(askedKey(entry.key, block));
    const now = Date.now();
    if (owed && owed.open > 0) {
      owed.open--;
      owed.cancelled++;
      owed.until = now + CANCEL_GRACE_FACTOR * (this.#o.requestTimeoutMs ?? 30_000);
    }
    if (peer.asked.size > ASKED_SWEEP_AT) for (const [k, o] of peer.asked) if (o.open === 0 && o.until < now) peer.asked.delete(k);
    this.#send(peer, { type: MESSAGE_TYPES.CANCEL, fileId: entry.id, block });
  }

  /** Before a frame's data is buffered: a BLOCK must answer a request to this peer and have the advertised length. */
  #checkFrame(asked: Map<string, Asked>, h: BlockFrameHeader): string | undefined {
    const key = askedKey(h.fileId.toString('hex'), h.block);
    const owed = asked.get(key);
    if (owed && owed.cancelled > 0 && owed.until < Date.now()) owed.cancelled = 0;
    if (owed && owed.cancelled > 0) owed.cancelled--;
    else if (owed && owed.open > 0) owed.open--;
    else {
      // A late REJECT is harmless (one byte); a BLOCK nobody asked for is not.
      return h.kind === FRAME_KINDS.BLOCK ? `block ${h.block} was not asked for` : undefined;
    }
    if (owed.open === 0 && owed.cancelled === 0) asked.delete(key);
    if (h.kind !== FRAME_KINDS.BLOCK) return undefined;
    const entry = this.#files.get(h.fileId.toString('hex'));
    if (entry && h.block < entry.have.size && h.length !== blockLength(entry.meta, h.block)) {
      return `block ${h.block} has ${h.length} bytes, not ${blockLength(entry.meta, h.block)}`;
    }
    return undefined;
  }

  #onBlockData(peer: PeerEntry, chunk: Buffer): void {
    if (peer.closed || this.#closed) return;
    let frames: BlockFrame[];
    try {
      frames = peer.decoder.push(chunk);
    } catch {
      // The stream cannot be re-synchronised after a bad header: drop the link.
      this.stats.badFrames++;
      this.removePeer(peer.link.peerId, true);
      return;
    }
    for (const frame of frames) this.#onFrame(peer, frame);
  }

  #onFrame(peer: PeerEntry, frame: BlockFrame): void {
    const entry = this.#files.get(frame.fileId.toString('hex'));
    const scheduler = entry?.scheduler;
    if (!entry || !scheduler) return;
    const peerId = peer.link.peerId;
    if (frame.kind === FRAME_KINDS.REJECT) {
      scheduler.onReject(peerId, frame.block);
      return;
    }
    peer.receivedBytes += frame.data.length;
    this.stats.downloadedBytes += frame.data.length;
    const valid = frame.block < entry.have.size && frame.data.length === blockLength(entry.meta, frame.block) &&
      createHash(HASH_ALGORITHM).update(frame.data).digest().equals(entry.meta.blockHashes[frame.block]!);
    const verdict = scheduler.onBlock(peerId, frame.block, valid);
    if (!valid) {
      this.stats.badBlocks++;
      this.emit('badBlock', { fileId: entry.key, block: frame.block, peerId });
      return;
    }
    if (verdict === 'accepted') void this.#storeBlock(entry, frame.block, frame.data, peerId);
  }

  async #storeBlock(entry: FileEntry, block: number, data: Buffer, peerId: string): Promise<void> {
    const writer = entry.writer;
    if (!writer) return;
    try {
      await writer.writeBlock(block, data);
    } catch (err) {
      await this.#fail(entry, err);
      return;
    }
    // Paused or stopped meanwhile. (Completion also drops the writer: blocks written in
    // the same gathered write as the last one still count.)
    if (entry.writer !== writer && !entry.finishing) return;
    this.stats.blocksVerified++;
    entry.rateBytes += data.length;
    this.#broadcast(entry, { type: MESSAGE_TYPES.HAVE, fileId: entry.id, block });
    this.emit('block', { fileId: entry.key, block, peerId });
    if (entry.have.complete) await this.#complete(entry);
    else this.#progress(entry, false);
  }

  async #complete(entry: FileEntry): Promise<void> {
    if (entry.finishing) return;
    entry.finishing = true;
    try {
      entry.scheduler?.close();
      entry.scheduler = null;
      const writer = entry.writer!;
      entry.writer = null;
      entry.path = await writer.finish(entry.path!);
      entry.partPath = null;
      entry.state = 'done';
      entry.have = Bitfield.full(entry.have.size);
      this.#persist(entry);
      this.#broadcast(entry, this.#bitfieldOf(entry, false));
      this.#progress(entry, true);
      this.emit('complete', this.#info(entry));
    } catch (err) {
      await this.#fail(entry, err);
    } finally {
      entry.finishing = false;
    }
  }

  /** A download cannot go on (disk full...): pause it with the error, nothing recorded that is not on disk. */
  async #fail(entry: FileEntry, err: unknown, always = false): Promise<void> {
    const error = err instanceof FileShareError ? err : new FileShareError(FILE_SHARE_ERRORS.WRITE_FAILED, (err as Error).message, { cause: err });
    // Several writes under way fail together: report the first, once.
    if (!always && entry.state !== 'active' && !entry.finishing) return;
    if (entry.state === 'active') await this.#stop(entry, 'paused');
    entry.error = error.message;
    this.#persist(entry);
    this.emit('downloadFailed', { fileId: entry.key, error });
  }

  async #stop(entry: FileEntry, state: FileState): Promise<void> {
    entry.scheduler?.close();
    entry.scheduler = null;
    const writer = entry.writer;
    entry.writer = null;
    entry.state = state;
    if (writer) {
      await writer.close().catch(() => undefined);
      entry.have = new Bitfield(entry.have.size, this.#o.store.get(entry.id)?.bitmap ?? Buffer.alloc(0));
    }
    this.#persist(entry);
    this.#broadcast(entry, { type: MESSAGE_TYPES.LEAVE, fileId: entry.id });
    this.#progress(entry, true);
  }

  #progress(entry: FileEntry, force: boolean): void {
    const now = Date.now();
    if (now - entry.rateSince >= RATE_WINDOW_MS) {
      entry.rate = (entry.rateBytes * 1000) / (now - entry.rateSince);
      entry.rateSince = now;
      entry.rateBytes = 0;
    }
    if (!force && now - entry.lastProgress < (this.#o.progressIntervalMs ?? 250)) return;
    entry.lastProgress = now;
    this.emit('progress', {
      fileId: entry.key, name: entry.meta.name, state: entry.state, bytes: this.#bytesOf(entry), size: entry.meta.size,
      blocks: entry.have.count, blockCount: entry.have.size, peers: entry.scheduler?.activePeers ?? 0, rate: entry.rate,
    });
  }
}

/**
 * Writes a frame in pieces of at most WRITE_PIECE bytes (views, no copies): loopback
 * TCP has a slow case at exactly-64-KiB writes (see STACK.md), and a block is 64 KiB.
 */
function writeFrame(stream: Duplex, frame: Buffer): boolean {
  let flowing = true;
  for (let off = 0; off < frame.length; off += WRITE_PIECE) flowing = stream.write(frame.subarray(off, off + WRITE_PIECE));
  return flowing;
}

/** Takes the first queued job and the ones after it that continue it (same file, next block), up to READ_AHEAD_BYTES. */
function takeRun(queue: UploadJob[]): UploadJob[] {
  const run = [queue.shift()!];
  let bytes = blockLength(run[0]!.entry.meta, run[0]!.block);
  for (;;) {
    const last = run[run.length - 1]!;
    const next = queue[0];
    if (!next || next.entry !== last.entry || next.block !== last.block + 1) break;
    bytes += blockLength(next.entry.meta, next.block);
    if (bytes > READ_AHEAD_BYTES) break;
    run.push(queue.shift()!);
  }
  return run;
}

function waitDrain(stream: Duplex): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}

function askedKey(fileKey: string, block: number): string {
  return `${fileKey}:${block}`;
}

/** True when the link's peer is in one of the file's chats, or either side is unscoped. */
function inScope(entry: FileEntry, link: PeerLink): boolean {
  if (!link.chats || entry.chats.size === 0) return true;
  for (const chat of entry.chats) if (link.chats.has(chat)) return true;
  return false;
}

async function closeReader(entry: FileEntry): Promise<void> {
  const reader = entry.reader;
  entry.reader = null;
  if (reader) await reader.then((h) => h.close()).catch(() => undefined);
}

async function exists(path: string): Promise<boolean> {
  try {
    await fsp.access(path);
    return true;
  } catch {
    return false;
  }
}

