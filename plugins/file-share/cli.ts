/**
 * `bitchat share <file> --chat <name>` and `bitchat files`, added through
 * `hooks.cliCommands`. `share` runs a node, unlocks the profile, shares the file into
 * the joined chat and seeds it until Ctrl-C (or `--exit-after`); `files` starts the
 * node without unlocking (no network identity, no chats) and lists what the store
 * knows. Core modules are imported lazily: this module is loaded with the plugin,
 * which the kernel itself loads.
 */
import { untilInterrupted } from '../../core/interrupt.js';
import { resolve } from 'node:path';
import type { Argv } from 'yargs';
import type { Kernel } from '../../core/kernel.js';
import { FILE_SHARE_ERRORS, FileShareError } from './errors.js';
import type { FileInfo } from './engine.js';

export interface FileShareCliIo {
  out(line: string): void;
  /** Resolves when the node should stop (Ctrl-C / SIGTERM, or `--exit-after`). */
  untilStopped(exitAfterS?: number): Promise<void>;
}

const STDIO: FileShareCliIo = {
  out: (line) => process.stdout.write(line + '\n'),
  untilStopped: untilInterrupted,
};

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
export async function shareIntoChat(kernel: Kernel, file: string, chatName: string): Promise<FileInfo> {
  const chat = kernel.resolve('chat');
  const wanted = chatName.trim().toLowerCase();
  const found = chat.list().find((c) => c.name.toLowerCase() === wanted);
  if (!found) throw new FileShareError(FILE_SHARE_ERRORS.UNKNOWN_CHAT, `no chat named "${chatName}" (join it first)`);
  if (!found.online) await chat.goOnline(found.chatId);
  return kernel.resolve('fileShare').share(resolve(file), found.networkId.toString('hex'));
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
    const info = await shareIntoChat(kernel, args.file, args.chat);
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
      'List shared and advertised files with their state',
      () => {},
      async (args) => runFiles(args as unknown as CommonArgs, io),
    );
}
