/**
 * `bitchat share <file> --chat <name>` and `bitchat files [download|pause|resume|cancel <id>]`,
 * added through `hooks.cliCommands`. Each goes through the `files.*` control methods
 * (control-methods.ts): to the running node on the data folder when one answers, else
 * to a node this process starts (unlocked for share and download, which need the
 * network; not for the rest). `share` hashes with a progress bar, then the running node
 * seeds the file, or this process until Ctrl-C; `files download` shows a progress bar
 * until done. Core modules are imported lazily: this module is loaded with the plugin,
 * which the kernel itself loads.
 */
import { untilInterrupted } from '../../core/interrupt.js';
import { basename, resolve } from 'node:path';
import type { Argv } from 'yargs';
import type { ControlCaller } from '../../core/control/client.js';
import type { Kernel } from '../../core/kernel.js';
import type { NodeCliArgs, NodeLink } from '../../core/node/cli.js';
import { FILE_SHARE_ERRORS, FileShareError } from './errors.js';
import type { FileInfo, FileProgress } from './engine.js';
import { ProgressBar, type ProgressOutput, type ProgressSample } from './progress.js';
import type { FileShareService } from './service.js';

export interface FileShareCliIo {
  out(line: string): void;
  /** Resolves when the node should stop (Ctrl-C / SIGTERM, or `--exit-after`). */
  untilStopped(exitAfterS?: number): Promise<void>;
  /** Where progress bars go. @default process.stderr (stdout stays one line per result) */
  progress?: ProgressOutput;
}

const STDIO: FileShareCliIo = {
  out: (line) => process.stdout.write(line + '\n'),
  untilStopped: untilInterrupted,
  progress: process.stderr,
};

/** What `files pause|resume|cancel` do. */
export type FileAction = 'pause' | 'resume' | 'cancel';

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** One line per file: id prefix, state, progress, size, name. */
export function fileLine(f: FileInfo): string {
  const pct = f.blockCount === 0 ? 100 : Math.floor((100 * f.blocks) / f.blockCount);
  return `${f.fileId.slice(0, 16)}  ${f.state.padEnd(10)} ${String(pct).padStart(3)}%  ${mib(f.size).padStart(10)}  ${f.name}`;
}

/** What sharing and downloading need of the chat facade (service `chat`). */
export interface ChatDirectory {
  list(): Array<{ chatId: number; name: string; online: boolean; networkId: Buffer }>;
  goOnline(chatId: number): Promise<unknown>;
}

/**
 * Shares `file` into the joined chat named `chatName` (brought online if it was not).
 * Returns the file's info.
 */
export async function shareInto(
  chat: ChatDirectory,
  service: FileShareService,
  file: string,
  chatName: string,
  onProgress?: (bytesHashed: number, size: number) => void,
): Promise<FileInfo> {
  const wanted = chatName.trim().toLowerCase();
  const found = chat.list().find((c) => c.name.toLowerCase() === wanted);
  if (!found) throw new FileShareError(FILE_SHARE_ERRORS.UNKNOWN_CHAT, `no chat named "${chatName}" (join it first)`);
  if (!found.online) await chat.goOnline(found.chatId);
  return service.share(resolve(file), found.networkId.toString('hex'), {
    ...(onProgress ? { onProgress: (p: { bytesHashed: number; size: number }) => onProgress(p.bytesHashed, p.size) } : {}),
  });
}

/** {@link shareInto} on a running, unlocked kernel. */
export function shareIntoChat(kernel: Kernel, file: string, chatName: string, onProgress?: (bytesHashed: number, size: number) => void): Promise<FileInfo> {
  return shareInto(kernel.resolve('chat'), kernel.resolve('fileShare'), file, chatName, onProgress);
}

/** The file whose ID is `id` or starts with it (`bitchat files` shows 16-digit prefixes). */
export function findFile(service: FileShareService, id: string): FileInfo {
  return findIn(service.list(), id);
}

/** {@link findFile} over a list (what `files.list` returned). */
export function findIn(files: readonly FileInfo[], id: string): FileInfo {
  const wanted = id.trim().toLowerCase();
  const matches = wanted.length === 0 ? [] : files.filter((f) => f.fileId.startsWith(wanted));
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new FileShareError(FILE_SHARE_ERRORS.UNKNOWN_FILE, `no file with ID ${id} (see bitchat files)`);
  throw new FileShareError(FILE_SHARE_ERRORS.UNKNOWN_FILE, `${matches.length} files start with ${id}: give more digits`);
}

/**
 * Starts (or resumes) downloading the file `id` (or a unique prefix) and resolves with
 * its info once complete; `onProgress` hears the service's progress events for it. A
 * download that stops on an error (disk full...) rejects with that error. When `signal`
 * aborts, it stops listening and resolves with the info as it is; the download goes on.
 */
export function downloadFile(service: FileShareService, id: string, onProgress?: (p: FileProgress) => void, signal?: AbortSignal): Promise<FileInfo> {
  const info = findFile(service, id);
  if (info.state === 'done') return Promise.resolve(info);
  return new Promise<FileInfo>((resolvePromise, reject) => {
    const stop = (): void => {
      service.off('progress', progress);
      service.off('complete', complete);
      service.off('downloadFailed', failed);
      signal?.removeEventListener('abort', aborted);
    };
    const aborted = (): void => {
      stop();
      resolvePromise(findFile(service, info.fileId));
    };
    if (signal?.aborted) return aborted();
    signal?.addEventListener('abort', aborted, { once: true });
    const progress = (p: FileProgress): void => {
      if (p.fileId === info.fileId) onProgress?.(p);
    };
    const complete = (f: FileInfo): void => {
      if (f.fileId !== info.fileId) return;
      stop();
      resolvePromise(f);
    };
    const failed = (e: { fileId: string; error: FileShareError }): void => {
      if (e.fileId !== info.fileId) return;
      stop();
      reject(e.error);
    };
    service.on('progress', progress);
    service.on('complete', complete);
    service.on('downloadFailed', failed);
    service.download(info.fileId).catch((err: unknown) => {
      stop();
      reject(err);
    });
  });
}

/** Pauses, resumes or cancels the file `id` (or a unique prefix); returns its info after. */
export async function fileAction(service: FileShareService, action: FileAction, id: string): Promise<FileInfo> {
  const { fileId } = findFile(service, id);
  await service[action](fileId);
  return findFile(service, fileId);
}

type CommonArgs = NodeCliArgs;

/** The running node's control socket, else a node of our own (see `linkToNode`). */
async function linkTo(args: CommonArgs, unlock: boolean): Promise<NodeLink> {
  const { linkToNode } = await import('../../core/node/cli.js');
  return linkToNode(args, { unlock });
}

async function listThrough(caller: ControlCaller): Promise<FileInfo[]> {
  return (await caller.call<{ files: FileInfo[] }>('files.list')).files;
}

/**
 * `bitchat share <file> --chat <name>`: hashes with a progress bar and shares. A running
 * node seeds it from then on; else this process seeds it until Ctrl-C (or `--exit-after`).
 */
export async function runShare(args: CommonArgs & { file: string; chat: string; 'exit-after'?: number }, io: FileShareCliIo = STDIO): Promise<void> {
  const node = await linkTo(args, true);
  try {
    const bar = io.progress ? new ProgressBar(io.progress, `hashing ${basename(args.file)}`) : null;
    const info = await node.caller.call<FileInfo>('files.share', { path: resolve(args.file), chat: args.chat }, {
      onEvent: (event, data) => {
        if (event === 'progress') bar?.update(data as ProgressSample);
      },
    });
    bar?.done();
    io.out(`shared ${info.name} (${mib(info.size)}, ${info.blockCount} blocks) into "${args.chat}"`);
    io.out(`file id ${info.fileId}`);
    if (node.remote) {
      io.out('the running node seeds it.');
      return;
    }
    io.out('seeding; press Ctrl-C to stop.');
    let last = 0;
    const report = setInterval(() => {
      node.caller.call<{ uploadedBytes: number }>('files.stats').then((stats) => {
        if (stats.uploadedBytes !== last) io.out(`uploaded ${mib(stats.uploadedBytes)}`);
        last = stats.uploadedBytes;
      }, () => undefined);
    }, 2000);
    try {
      await io.untilStopped(args['exit-after']);
    } finally {
      clearInterval(report);
    }
  } finally {
    await node.close();
  }
}

/**
 * `bitchat files download <id>`: downloads with a progress bar until done. On Ctrl-C (or
 * `--exit-after`) a running node goes on downloading; a node of our own goes on the next
 * time one runs.
 */
export async function runDownload(args: CommonArgs & { id: string; 'exit-after'?: number }, io: FileShareCliIo = STDIO): Promise<void> {
  const node = await linkTo(args, true);
  try {
    const info = findIn(await listThrough(node.caller), args.id);
    const bar = io.progress ? new ProgressBar(io.progress, info.name) : null;
    bar?.update({ bytes: info.bytes, size: info.size, peers: 0 });
    const cancel = new AbortController();
    const downloading = node.caller.call<FileInfo>('files.download', { id: info.fileId }, {
      signal: cancel.signal,
      onEvent: (event, data) => {
        if (event === 'progress') bar?.update(data as ProgressSample);
      },
    });
    const outcome = await Promise.race([downloading, io.untilStopped(args['exit-after']).then(() => null)]);
    if (outcome === null) {
      cancel.abort();
      await downloading.catch(() => undefined);
      bar?.done();
      const now = findIn(await listThrough(node.caller), info.fileId);
      const after = node.remote ? 'the running node goes on downloading' : 'the download goes on when the node runs again';
      io.out(`stopped at ${now.blocks}/${info.blockCount} blocks; ${after}`);
      return;
    }
    bar?.done({ bytes: outcome.size, size: outcome.size });
    io.out(`downloaded ${outcome.name} to ${outcome.path}`);
  } finally {
    await node.close();
  }
}

/** `bitchat files pause|resume|cancel <id>`: needs no password (no network). */
export async function runFileAction(args: CommonArgs & { id: string }, action: FileAction, io: FileShareCliIo = STDIO): Promise<void> {
  const node = await linkTo(args, false);
  try {
    io.out(fileLine(await node.caller.call<FileInfo>(`files.${action}`, { id: args.id })));
  } finally {
    await node.close();
  }
}

function printFiles(files: readonly FileInfo[], io: Pick<FileShareCliIo, 'out'>): void {
  if (files.length === 0) io.out('no files');
  for (const f of files) io.out(fileLine(f));
}

/** What `bitchat files` prints, from a running kernel. */
export function listFiles(kernel: Kernel, io: Pick<FileShareCliIo, 'out'>): void {
  printFiles(kernel.resolve('fileShare').list(), io);
}

export async function runFiles(args: CommonArgs, io: FileShareCliIo = STDIO): Promise<void> {
  const node = await linkTo(args, false);
  try {
    printFiles(await listThrough(node.caller), io);
  } finally {
    await node.close();
  }
}

export function addFileShareCommands(cli: Argv, io: FileShareCliIo = STDIO): void {
  cli
    .command(
      'share <file>',
      'Share a file into a joined chat and seed it until Ctrl-C',
      (b) =>
        b
          .positional('file', { type: 'string', demandOption: true })
          .option('chat', { type: 'string', demandOption: true, describe: 'Name of the joined chat (group name or e-mail)' })
          .option('password-file', { type: 'string', describe: 'Read the profile password from this file (else $BITCHAT_PASSWORD or a prompt)' })
          .option('exit-after', { type: 'number', describe: 'Stop seeding after this many seconds' }),
      async (args) => runShare(args as unknown as CommonArgs & { file: string; chat: string; 'exit-after'?: number }, io),
    )
    .command(
      'files',
      'List shared and advertised files; download, pause, resume or cancel one',
      (b) => {
        b.command(
          'download <id>',
          'Download an advertised file (ID or its first digits) with a progress bar',
          (c) =>
            c
              .positional('id', { type: 'string', demandOption: true })
              .option('password-file', { type: 'string', describe: 'Read the profile password from this file (else $BITCHAT_PASSWORD or a prompt)' })
              .option('exit-after', { type: 'number', describe: 'Stop after this many seconds even if not done' }),
          async (args) => runDownload(args as unknown as CommonArgs & { id: string; 'exit-after'?: number }, io),
        );
        for (const [action, what] of [['pause', 'Pause a download'], ['resume', 'Resume a paused download'], ['cancel', 'Cancel a download (deletes its .part) or stop sharing a file']] as const) {
          b.command(`${action} <id>`, `${what} (ID or its first digits)`, (c) => c.positional('id', { type: 'string', demandOption: true }),
            async (args) => runFileAction(args as unknown as CommonArgs & { id: string }, action, io));
        }
        return b;
      },
      async (args) => runFiles(args as unknown as CommonArgs, io),
    );
}
