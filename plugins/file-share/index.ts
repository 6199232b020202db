/**
 * The file-share plugin: swarming file transfer inside a chat network
 * (spec §5, DESIGN §2b "files"). It registers its message types and SQLite
 * migrations, and shares a `fileShare` service; the chat layer attaches one
 * PeerLink per member session and forwards file-share messages (README).
 */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { definePlugin } from '../../core/plugin.js';
import { ChatLinks, type ChatSessionSource } from './chat-links.js';
import { addFileShareCommands, type ChatDirectory } from './cli.js';
import { addFileShareMethods } from './control-methods.js';
import { MAX_FILE_SIZE, PLUGIN_NAME } from './constants.js';
import { FileShareService } from './service.js';
import { FILE_SHARE_MIGRATIONS, type FsyncPolicy } from './store.js';
import { registerMessageTypes } from './wire.js';

export interface FileShareOptions {
  /** Where downloads go; `~/` is the home folder, a relative path is under the data folder. @default "downloads" */
  downloadDir: string;
  /** Largest file accepted from an advertisement, bytes. @default 4294967296 (4 GiB) */
  maxFileSize: number;
  /** Block requests in flight per peer (32 x 64 KiB = 2 MiB keeps loopback busy). @default 32 */
  pipeline: number;
  /** A request unanswered this long is re-queued. @default 30000 */
  requestTimeoutMs: number;
  /** Bad blocks before a peer is banned from a download. @default 3 */
  maxStrikes: number;
  /** fsync of `.part` files: every block, every 8 MiB, or never. @default "batch" */
  fsync: FsyncPolicy;
  /** Download every advertised file without asking. @default false */
  autoDownload: boolean;
  /** ID this node is known by to its peers (stripes order on it); the chat wiring sets the node ID. @default random per run */
  selfId?: string;
}

declare module '../../core/plugin.js' {
  interface ServiceMap {
    fileShare: FileShareService;
  }
}

export const FILE_SHARE_OPTIONS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    downloadDir: { type: 'string', minLength: 1, default: 'downloads', description: 'Where downloads go.' },
    maxFileSize: { type: 'integer', minimum: 0, maximum: MAX_FILE_SIZE, default: 4 * 1024 ** 3, description: 'Largest file accepted, bytes.' },
    pipeline: { type: 'integer', minimum: 1, maximum: 64, default: 32, description: 'Requests in flight per peer.' },
    requestTimeoutMs: { type: 'integer', minimum: 100, maximum: 600_000, default: 30_000, description: 'Request timeout.' },
    maxStrikes: { type: 'integer', minimum: 1, maximum: 100, default: 3, description: 'Bad blocks before a ban.' },
    fsync: { enum: ['always', 'batch', 'never'], default: 'batch', description: 'fsync policy of .part files.' },
    autoDownload: { type: 'boolean', default: false, description: 'Download every advertised file.' },
    selfId: { type: 'string', minLength: 1, maxLength: 256, description: 'ID peers know this node by.' },
  },
} as const;

export function resolveDownloadDir(option: string, dataDir: string): string {
  if (option === '~' || option.startsWith('~/')) return join(homedir(), option.slice(1));
  return isAbsolute(option) ? option : resolve(dataDir, option);
}

export default definePlugin<FileShareOptions>({
  name: PLUGIN_NAME,
  version: '0.1.0',
  description: 'Share files inside a chat, BitTorrent-style (block hashes, rarest first, resumable)',
  optionsSchema: FILE_SHARE_OPTIONS_SCHEMA,
  apply(api, options) {
    const service = new FileShareService({
      downloadDir: resolveDownloadDir(options.downloadDir, api.dataDir),
      maxFileSize: options.maxFileSize,
      pipeline: options.pipeline,
      requestTimeoutMs: options.requestTimeoutMs,
      maxStrikes: options.maxStrikes,
      fsync: options.fsync,
      autoDownload: options.autoDownload,
    });
    api.register('fileShare', service);
    // Chats are keyed by network ID (hex) on the network; a local chat ID ("3", as the UI
    // sends it) is mapped through the chat facade.
    service.setChatKey((chat) => {
      if (!/^\d{1,15}$/.test(chat)) return chat;
      const facade = api.tryResolve<{ list?(): Array<{ chatId?: number; networkId?: unknown }> }>('chat');
      const networkId = typeof facade?.list === 'function' ? facade.list().find((c) => c.chatId === Number(chat))?.networkId : undefined;
      return Buffer.isBuffer(networkId) ? networkId.toString('hex') : chat;
    });
    api.hooks.migrations.tap(PLUGIN_NAME, (registry) => {
      for (const migration of FILE_SHARE_MIGRATIONS) registry.add(migration);
    });
    api.hooks.registerMessageTypes.tap(PLUGIN_NAME, registerMessageTypes);
    api.hooks.cliCommands.tap(PLUGIN_NAME, (cli) => addFileShareCommands(cli));
    api.hooks.controlMethods.tap(PLUGIN_NAME, (registry) => addFileShareMethods(registry, service, () => api.tryResolve<ChatDirectory>('chat')));
    // File-share messages are read from the sessions themselves (ChatLinks), which know
    // the sending node; hooks.message names only its identity.
    // The chat facade appears after hooks.start (once the profile is unlocked) and is
    // replaced on lock/unlock: bind to it whenever a chat goes online or a connection
    // opens, both of which come before any member session.
    let links: ChatLinks | null = null;
    const bindChat = (): void => {
      if (!service.running) return;
      const chat = api.tryResolve<ChatSessionSource>('chat');
      if (links?.source === chat) return;
      links?.stop();
      links = null;
      if (!chat || typeof chat.onSession !== 'function') return;
      links = new ChatLinks(service, chat, api.resolve('connections').peerId.toString('hex'));
      links.start();
      // An explicit selfId wins over the node ID (it must then be what peers key this node's link by).
      if (options.selfId !== undefined) service.selfId = options.selfId;
    };
    api.hooks.announce.tapPromise(PLUGIN_NAME, async () => bindChat());
    api.hooks.connection.tap(PLUGIN_NAME, () => bindChat());
    api.hooks.start.tapPromise(PLUGIN_NAME, async () => {
      await service.start(api.resolve('storage').db, options.selfId);
      bindChat();
    });
    api.hooks.stop.tapPromise(PLUGIN_NAME, async () => {
      links?.stop();
      links = null;
      await service.stop();
    });
  },
});

export { FileShareService } from './service.js';
export { ChatLinks, BLOCK_STREAM_PORT, type ChatSessionSource } from './chat-links.js';
export { shareInto, shareIntoChat, listFiles, runFiles, runShare, runDownload, runFileAction, fileLine, findFile, findIn, downloadFile, fileAction, type FileAction, type ChatDirectory } from './cli.js';
export { addFileShareMethods } from './control-methods.js';
export { ProgressBar, formatProgress, formatBytes, formatDuration, type ProgressOutput } from './progress.js';
export { FileShareEngine, type PeerLink, type FileInfo, type FileProgress, type FileShareEvents } from './engine.js';
export { FileShareError, FILE_SHARE_ERRORS } from './errors.js';
