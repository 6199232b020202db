/**
 * `bitchat share <file> --chat <name>` and `bitchat files [download|pause|resume|cancel <id>]`,
 * added through `hooks.cliCommands`. `share` runs a node, unlocks the profile, shares the
 * file into the joined chat (hashing with a progress bar) and seeds it until Ctrl-C (or
 * `--exit-after`); `files download` unlocks, brings the file's chats online and downloads
 * with a progress bar; `files` lists and `files pause|resume|cancel` change a download
 * on a node started without unlocking (no network). The work itself is in functions that
 * take the `fileShare` service (`findFile`, `downloadFile`, `fileAction`), so a running
 * node's control socket can offer the same. Core modules are imported lazily: this module
 * is loaded with the plugin, which the kernel itself loads.
 */
import { untilInterrupted } from '../../core/interrupt.js';
import { basename, resolve } from 'node:path';
import type { Argv } from 'yargs';
import type { Kernel } from '../../core/kernel.js';
import { FILE_SHARE_ERRORS, FileShareError } from './errors.js';
import type { FileInfo, FileProgress } from './engine.js';
import { ProgressBar, type ProgressOutput } from './progress.js';
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

/**
 * Shares `file` into the joined chat named `chatName` on a running, unlocked kernel
 * (brought online if it was not). Returns the file's info.
 */
export async function shareIntoChat(kernel: Kernel, file: string, chatName: string, onProgress?: (bytesHashed: number, size: number) => void): Promise<FileInfo> {
  const chat = kernel.resolve('chat');
  const wanted = chatName.trim().toLowerCase();
  const found = chat.list().find((c) => c.name.toLowerCase() === wanted);
  if (!found) throw new FileShareError(FILE_SHARE_ERRORS.UNKNOWN_CHAT, `no chat named "${chatName}" (join it first)`);
  if (!found.online) await chat.goOnline(found.chatId);
  return kernel.resolve('fileShare').share(resolve(file), found.networkId.toString('hex'), {
    ...(onProgress ? { onProgress: (p: { bytesHashed: number; size: number }) => onProgress(p.bytesHashed, p.size) } : {}),
  });
}

/** The file whose ID is `id` or starts with it (`bitchat files` shows 16-digit prefixes). */
export function findFile(service: FileShareService, id: string): FileInfo {
  const wanted = id.trim().toLowerCase();
  const matches = wanted.length === 0 ? [] : service.list().filter((f) => f.fileId.startsWith(wanted));
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new FileShareError(FILE_SHARE_ERRORS.UNKNOWN_FILE, `no file with ID ${id} (see bitchat files)`);
  throw new FileShareError(FILE_SHARE_ERRORS.UNKNOWN_FILE, `${matches.length} files start with ${id}: give more digits`);
}

/**
 * Starts (or resumes) downloading the file `id` (or a unique prefix) and resolves with
 * its info once complete; `onProgress` hears the service's progress events for it. A
 * download that stops on an error (disk full...) rejects with that error.
 */
export function downloadFile(service: FileShareService, id: string, onProgress?: (p: FileProgress) => void): Promise<FileInfo> {
  const info = findFile(service, id);
  if (info.state === 'done') return Promise.resolve(info);
  return new Promise<FileInfo>((resolvePromise, reject) => {
    const stop = (): void => {
      service.off('progress', progress);
      service.off('complete', complete);
      service.off('downloadFailed', failed);
    };
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

interface CommonArgs {
  config?: string;
  logLevel?: string;
  'password-file'?: string;
}

async function createKernel(args: CommonArgs): Promise<Kernel> {
  const [{ loadConfig }, { Kernel: KernelClass }] = await Promise.all([import('../../core/config.js'), import('../../core/kernel.js')]);
  const base = loadConfig(args.config !== undefined ? { configPath: args.config } : {});
  const kernel = await KernelClass.create({ config: args.logLevel ? { ...base, logLevel: args.logLevel } : base });
  await kernel.start();
  return kernel;
}

export async function runShare(args: CommonArgs & { file: string; chat: string; 'exit-after'?: number }, io: FileShareCliIo = STDIO): Promise<void> {
  const { readPassword } = await import('../../core/identity/cli.js');
  const password = await readPassword(args);
  const kernel = await createKernel(args);
  try {
    await kernel.resolve('identity').unlock(password);
    const bar = io.progress ? new ProgressBar(io.progress, `hashing ${basename(args.file)}`) : null;
    const info = await shareIntoChat(kernel, args.file, args.chat, (bytes, size) => bar?.update({ bytes, size }));
    bar?.done();
    const service = kernel.resolve('fileShare');
    io.out(`shared ${info.name} (${mib(info.size)}, ${info.blockCount} blocks) into "${args.chat}"`);
    io.out(`file id ${info.fileId}`);
    io.out('seeding; press Ctrl-C to stop.');
    let last = 0;
    const report = setInterval(() => {
      const sent = service.stats.uploadedBytes;
      if (sent !== last) io.out(`uploaded ${mib(sent)}`);
      last = sent;
    }, 2000);
    try {
      await io.untilStopped(args['exit-after']);
    } finally {
      clearInterval(report);
    }
  } finally {
    await kernel.stop();
  }
}

/**
 * `bitchat files download <id>`: unlocks, brings the file's chats online and downloads
 * with a progress bar until done (or Ctrl-C / `--exit-after`: the download then goes on
 * the next time the node runs).
 */
export async function runDownload(args: CommonArgs & { id: string; 'exit-after'?: number }, io: FileShareCliIo = STDIO): Promise<void> {
  const { readPassword } = await import('../../core/identity/cli.js');
  const password = await readPassword(args);
  const kernel = await createKernel(args);
  try {
    await kernel.resolve('identity').unlock(password);
    const service = kernel.resolve('fileShare');
    const info = findFile(service, args.id);
    const chat = kernel.resolve('chat');
    const chats = new Set(service.chatsOf(info.fileId));
    for (const c of chat.list()) if (chats.has(c.networkId.toString('hex')) && !c.online) await chat.goOnline(c.chatId);
    const bar = io.progress ? new ProgressBar(io.progress, info.name) : null;
    bar?.update({ bytes: info.bytes, size: info.size, peers: 0 });
    const outcome = await Promise.race([
      downloadFile(service, info.fileId, (p) => bar?.update(p)),
      io.untilStopped(args['exit-after']).then(() => null),
    ]);
    if (outcome === null) {
      bar?.done();
      io.out(`stopped at ${findFile(service, info.fileId).blocks}/${info.blockCount} blocks; the download goes on when the node runs again`);
      return;
    }
    bar?.done({ bytes: outcome.size, size: outcome.size });
    io.out(`downloaded ${outcome.name} to ${outcome.path}`);
  } finally {
    await kernel.stop();
  }
}

/** `bitchat files pause|resume|cancel <id>` on a node started without unlocking. */
export async function runFileAction(args: CommonArgs & { id: string }, action: FileAction, io: FileShareCliIo = STDIO): Promise<void> {
  const kernel = await createKernel(args);
  try {
    io.out(fileLine(await fileAction(kernel.resolve('fileShare'), action, args.id)));
  } finally {
    await kernel.stop();
  }
}

/** What `bitchat files` prints, from a running kernel. */
export function listFiles(kernel: Kernel, io: Pick<FileShareCliIo, 'out'>): void {
  const files = kernel.resolve('fileShare').list();
  if (files.length === 0) io.out('no files');
  for (const f of files) io.out(fileLine(f));
}

export async function runFiles(args: CommonArgs, io: FileShareCliIo = STDIO): Promise<void> {
  const kernel = await createKernel(args);
  try {
    listFiles(kernel, io);
  } finally {
    await kernel.stop();
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
