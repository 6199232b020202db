import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import type { CliIo } from './cli-io.js';
import { configFromCliArgs, type ConfigCliArgs, type KernelConfig } from './config.js';
import { BitChatError } from './errors.js';
import { Kernel, type PluginStatus } from './kernel.js';
import { createLogger } from './logger.js';
import { runDemo } from './demo.js';
import { untilInterrupted } from './interrupt.js';
import { addIdentityCommands, readPassword } from './identity/cli.js';
import { addChatCommands } from './node/cli.js';
import type { IdentityService } from './node/identity-service.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];


export type { CliIo };

const STDIO: CliIo = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};

/** Builds the yargs program; plugins found through the config add their commands. */
export async function buildCli(argv: string[], io: CliIo = STDIO): Promise<Argv> {
  const cli = yargs(argv)
    .scriptName('bitchat')
    .usage('$0 <command> [options]\n\nA peer-to-peer, end-to-end encrypted chat host.')
    .option('config', { type: 'string', describe: 'Config file (default: $BITCHAT_HOME/config.json or ~/.bitchat/config.json)' })
    .option('log-level', { type: 'string', choices: LOG_LEVELS, describe: 'Log level (logs go to stderr)' })
    .command(
      'start',
      'Run a node with the plugins in the config',
      (start) => start.option('password-file', { type: 'string', describe: 'Unlock the profile with the password in this file (or $BITCHAT_PASSWORD); else unlock it in the web UI' }),
      async (args) => runNode(configFromCliArgs(args as ConfigCliArgs), io, args['password-file']),
    )
    .command(
      'plugins',
      'List the plugins the config names: loaded or not, why, and what they tap',
      () => {},
      async (args) => {
        const kernel = await Kernel.create({ config: { ...configFromCliArgs(args as ConfigCliArgs), logLevel: 'silent' }, tolerant: true });
        printPluginTable(kernel.pluginStatus(), io);
      },
    )
    .command(
      'demo',
      'Start a few local nodes that find each other, form a group chat and talk (nothing leaves this machine)',
      (demo) =>
        demo
          .option('nodes', { type: 'number', default: 4, describe: 'How many nodes (3 to 5)' })
          .option('key-bits', { type: 'number', default: 4096, describe: 'RSA key size of the throwaway profiles' })
          .option('exit', { type: 'boolean', default: false, describe: 'Stop when the script is done instead of waiting for Ctrl-C' }),
      async (args) => {
        await runDemo({ nodes: args.nodes, keyBits: args['key-bits'], exitWhenDone: args.exit, untilStopped: () => untilInterrupted(), out: io.out });
      },
    )
    .command('config <action>', 'Work with the config file', (config) =>
      config.command(
        'check',
        'Validate the config file and every plugin\'s options',
        () => {},
        async (args) => {
          const config = configFromCliArgs(args as ConfigCliArgs);
          const kernel = await Kernel.create({ config: { ...config, logLevel: 'silent' } });
          const loaded = kernel.pluginStatus().filter((p) => p.state === 'loaded').length;
          io.out(`ok: ${config.source ?? 'embedded default config'} (${loaded} plugin${loaded === 1 ? '' : 's'})`);
        },
      ).demandCommand(1, 'Name an action: check'),
    )
    .demandCommand(1, 'Name a command (see --help)')
    .strict()
    .recommendCommands()
    .help()
    .alias('help', 'h')
    .version()
    .fail((message, err, instance) => {
      if (err) throw err;
      io.err(instance.help() as unknown as string);
      throw new BitChatError('ERR_CLI_USAGE', message);
    });

  addIdentityCommands(cli, io);
  addChatCommands(cli, io);
  await addPluginCommands(cli, argv);
  return cli;
}

/**
 * Plugins tap `hooks.cliCommands` to add sub-commands; for those to show in
 * `--help` the config's plugins are applied (not started) first. A broken
 * config is reported by the command that needs it, not here.
 */
async function addPluginCommands(cli: Argv, argv: string[]): Promise<void> {
  const pre = yargs(argv).help(false).version(false).parseSync() as ConfigCliArgs & { 'log-level'?: string };
  let kernel: Kernel;
  try {
    const config = configFromCliArgs({ ...(pre.config !== undefined ? { config: String(pre.config) } : {}) });
    kernel = await Kernel.create({ config: { ...config, logLevel: 'silent' }, tolerant: true, logger: createLogger('silent') });
  } catch {
    return;
  }
  kernel.hooks.cliCommands.call(cli);
}

async function runNode(config: KernelConfig, io: CliIo, passwordFile: string | undefined): Promise<void> {
  const kernel = await Kernel.create({ config });
  await kernel.start();
  try {
    await unlockAtStart(kernel, passwordFile);
  } catch (err) {
    await kernel.stop();
    throw err;
  }
  // Listen for Ctrl-C before saying it works.
  const stopped = untilInterrupted();
  const loaded = kernel.pluginStatus().filter((p) => p.state === 'loaded').map((p) => p.name);
  io.out(`bitchat node running`);
  io.out(`  config:  ${config.source ?? 'embedded default (no config file yet)'}`);
  io.out(`  data:    ${config.dataDir}`);
  io.out(`  plugins: ${loaded.length ? loaded.join(', ') : 'none'}`);
  const identity = (kernel.tryResolve('identity') as IdentityService | undefined)?.status();
  if (identity) io.out(`  profile: ${identity.state === 'unlocked' ? `${identity.email}, unlocked` : identity.state === 'locked' ? 'locked (unlock it in the web UI)' : 'none yet'}`);
  if (kernel.controlServer) io.out(`  control: ${kernel.controlServer.path} (bitchat send, status, ... reach this node)`);
  const ui = kernel.tryResolve('httpUi') as { url: string | null } | undefined;
  if (ui?.url) io.out(`  web UI:  ${ui.url}`);
  io.out('Press Ctrl-C to stop.');
  await stopped;
  io.out('stopping...');
  await kernel.stop();
}

/** With `--password-file` or `$BITCHAT_PASSWORD`, a node with a locked profile unlocks at start (so the CLI can use it headless). */
async function unlockAtStart(kernel: Kernel, passwordFile: string | undefined): Promise<void> {
  const identity = kernel.tryResolve('identity') as IdentityService | undefined;
  if (!identity || identity.status().state !== 'locked') return;
  if (passwordFile === undefined && process.env['BITCHAT_PASSWORD'] === undefined) return;
  await identity.unlock(await readPassword({ ...(passwordFile !== undefined ? { 'password-file': passwordFile } : {}) }));
}

export function printPluginTable(statuses: readonly PluginStatus[], io: CliIo): void {
  if (statuses.length === 0) {
    io.out('No plugins in the config.');
    return;
  }
  for (const status of statuses) {
    const version = status.version ? `@${status.version}` : '';
    io.out(`${status.state.padEnd(8)} ${status.name}${version}  (${status.origin}: ${status.spec})`);
    if (status.description) io.out(`         ${status.description}`);
    if (status.taps.length) io.out(`         taps: ${status.taps.join(', ')}`);
    if (status.reason) io.out(`         ${status.code ? status.code + ': ' : ''}${status.reason}`);
  }
}

/** Entry point of the `bitchat` executable. Returns the exit code. */
export async function main(argv: string[] = hideBin(process.argv), io: CliIo = STDIO): Promise<number> {
  try {
    const cli = await buildCli(argv, io);
    await cli.parseAsync();
    return 0;
  } catch (err) {
    if (err instanceof BitChatError) {
      io.err(`bitchat: ${err.message}${err.code === 'ERR_CLI_USAGE' ? '' : ` [${err.code}]`}`);
      return err.code === 'ERR_CLI_USAGE' ? 2 : 1;
    }
    io.err(`bitchat: unexpected error: ${(err as Error)?.stack ?? err}`);
    return 1;
  }
}
