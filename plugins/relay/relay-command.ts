/**
 * `bitchat relay`: run this config as a relay-only node: its `dht` options, the
 * relay with `serve: true`, no profile and no other plugin. Added through
 * `hooks.cliCommands` (so it shows when the config loads the relay plugin).
 */
import type { Argv } from 'yargs';

/** How the command reports and waits; replaceable in tests. */
export interface RelayCommandIo {
  out(line: string): void;
  /** Resolves when the node should stop (Ctrl-C / SIGTERM by default). */
  untilStopped(): Promise<void>;
}

const STDIO: RelayCommandIo = {
  out: (line) => process.stdout.write(line + '\n'),
  untilStopped: () =>
    new Promise<void>((resolve) => {
      const keepAlive = setInterval(() => {}, 1 << 30);
      const stop = (): void => {
        clearInterval(keepAlive);
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    }),
};

/** Run a relay-only node from the config at `configPath` (or the default config). */
export async function runRelayNode(configPath: string | undefined, logLevel: string | undefined, io: RelayCommandIo = STDIO): Promise<void> {
  // Loaded lazily: the plugin module must not pull the kernel in when the kernel loads it.
  const [{ loadConfig }, { Kernel }] = await Promise.all([import('../../core/config.js'), import('../../core/kernel.js')]);
  const base = loadConfig(configPath !== undefined ? { configPath } : {});
  const relayOptions = base.plugins.relay || {};
  const dhtOptions = base.plugins.dht || {};
  const config = {
    ...base,
    ...(logLevel ? { logLevel } : {}),
    profile: null,
    plugins: { dht: dhtOptions, relay: { ...relayOptions, serve: true } },
  };
  const kernel = await Kernel.create({ config });
  await kernel.start();
  io.out('bitchat relay node running');
  io.out(`  config:  ${config.source ?? 'embedded default'}`);
  io.out(`  listen:  ${config.listen.host}:${kernel.connections.localPort}`);
  io.out(`  plugins: ${kernel.pluginStatus().filter((p) => p.state === 'loaded').map((p) => p.name).join(', ')}`);
  io.out('Press Ctrl-C to stop.');
  await io.untilStopped();
  io.out('stopping...');
  await kernel.stop();
}

export function addRelayCommand(cli: Argv): void {
  cli.command(
    'relay',
    'Run a relay-only node (the config\'s dht options + relay serve; no profile, no chat)',
    () => {},
    async (args) => {
      const a = args as { config?: string; logLevel?: string };
      await runRelayNode(a.config, a.logLevel);
    },
  );
}
