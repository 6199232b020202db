/**
 * The `fileShare` service other plugins and the UI use: the engine's API plus
 * the chat bookkeeping (which chat a file was shared in). The engine exists
 * between `hooks.start` and `hooks.stop`; calls outside that throw
 * ERR_FILE_SHARE_BAD_STATE.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Database } from 'better-sqlite3';
import { FileShareEngine, type FileInfo, type FileShareEngineOptions, type FileShareEngineStats, type FileShareEvents, type PeerLink } from './engine.js';
import { FILE_SHARE_ERRORS, FileShareError } from './errors.js';
import type { HashOptions } from './hasher.js';
import { FileShareStore } from './store.js';

const EVENTS: ReadonlyArray<keyof FileShareEvents> = ['advertised', 'advertisementRefused', 'progress', 'block', 'badBlock', 'peerBanned', 'complete', 'downloadFailed'];

export type FileShareServiceOptions = Omit<FileShareEngineOptions, 'store' | 'selfId'>;

export class FileShareService extends EventEmitter<FileShareEvents> {
  readonly #options: FileShareServiceOptions;
  #engine: FileShareEngine | null = null;
  #store: FileShareStore | null = null;
  /** Maps a local chat ID ("3") to the chat's network ID in hex, when the chat layer is there. */
  #chatKey: (chat: string) => string = (chat) => chat;

  constructor(options: FileShareServiceOptions) {
    super();
    this.#options = options;
  }

  /** Counters of the running engine (zeros before start). */
  get stats(): FileShareEngineStats {
    return this.#engine?.stats ?? {
      uploadedBytes: 0, downloadedBytes: 0, blocksVerified: 0, badBlocks: 0, requestsServed: 0, requestsRefused: 0,
      badMessages: 0, badFrames: 0, advertisementsRefused: 0, peersBanned: 0,
    };
  }

  /** The ID peers know this node by (empty before start). Set by the chat wiring once the identity is known. */
  get selfId(): string {
    return this.#engine?.selfId ?? '';
  }

  set selfId(id: string) {
    this.#need().selfId = id;
  }

  /** IDs of the peers linked now (node IDs in hex, in a chat node). */
  get peers(): string[] {
    return this.#engine?.peers ?? [];
  }

  get running(): boolean {
    return this.#engine !== null;
  }

  /** Opens the engine on the node's database. `selfId` must be the ID peers use for this node (its identity). */
  async start(db: Database, selfId: string = randomBytes(20).toString('hex')): Promise<void> {
    if (this.#engine) return;
    this.#store = new FileShareStore(db);
    const engine = new FileShareEngine({ ...this.#options, store: this.#store, selfId });
    for (const event of EVENTS) engine.on(event, (...args: unknown[]) => (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args));
    await engine.start();
    this.#engine = engine;
  }

  async stop(): Promise<void> {
    const engine = this.#engine;
    this.#engine = null;
    this.#store = null;
    await engine?.close();
  }

  /**
   * Hashes `path` and advertises it to the members of `chat` (links whose `chats` include
   * it, and unscoped links). `chat`: the chat's network ID in hex, or its local chat ID
   * as a decimal string (mapped to the network ID, which is the same on every node).
   */
  async share(path: string, chat: string, options: HashOptions = {}): Promise<FileInfo> {
    return this.#need().share(path, { ...options, chat: this.#chatKey(chat) });
  }

  /** For the plugin: how a local chat ID becomes the chat key used on the network. */
  setChatKey(map: (chat: string) => string): void {
    this.#chatKey = map;
  }

  list(): FileInfo[] {
    return this.#need().list();
  }

  /** The chats a file was shared in or advertised from. */
  chatsOf(fileId: string): string[] {
    this.#need();
    return this.#store!.chatsOf(Buffer.from(fileId, 'hex'));
  }

  download(fileId: string): Promise<void> {
    return this.#need().download(fileId);
  }

  pause(fileId: string): Promise<void> {
    return this.#need().pause(fileId);
  }

  resume(fileId: string): Promise<void> {
    return this.#need().resume(fileId);
  }

  cancel(fileId: string): Promise<void> {
    return this.#need().cancel(fileId);
  }

  /** For the chat layer: a member's session opened (see README, "Wiring to chat sessions"). */
  attachPeer(link: PeerLink): void {
    this.#need().addPeer(link);
  }

  /** For the chat layer: the session closed. */
  detachPeer(peerId: string): void {
    this.#engine?.removePeer(peerId);
  }

  /** For the chat layer: a file-share message (type byte ‖ payload) arrived from `peerId`, in `chat` when known. */
  handleMessage(peerId: string, message: Buffer, chat?: string): void {
    this.#engine?.handleMessage(peerId, message, chat);
  }

  #need(): FileShareEngine {
    if (!this.#engine) throw new FileShareError(FILE_SHARE_ERRORS.BAD_STATE, 'file sharing is not running (the node has not started)');
    return this.#engine;
  }
}
