/**
 * A relay-only node: a config with only `dht` + `relay` and no profile runs, through
 * the real kernel and through the CLI (`bitchat start --config`, `bitchat relay`),
 * and serves a NATed peer.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { RELAY_INFO_HASH } from '../../../plugins/relay/constants.js';
import { waitFor } from '../../compliance/discovery.js';
import { createTestKernel, testConfig } from '../../helpers/kernel.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { RelayTestNet } from './testnet.js';

const RUN_CLI = fileURLToPath(new URL('./run-cli.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Run the CLI until `ready` shows, hand control to `whileRunning`, then Ctrl-C it. Bounded in time. */
function runCli(args: string[], ready: RegExp, whileRunning: () => Promise<void>): Promise<{ code: number | null; out: string; err: string; failure?: unknown }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', RUN_CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let started = false;
    let failure: unknown;
    const killer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      if (!started && ready.test(out)) {
        started = true;
        whileRunning()
          .catch((e: unknown) => (failure = e))
          .finally(() => child.kill('SIGINT'));
      }
    });
    child.stderr.on('data', (chunk) => (err += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, out, err, failure });
    });
  });
}

describe('plugins/relay: relay-only node', function () {
  this.timeout(40_000);
  let net: RelayTestNet;
  let temp: ReturnType<typeof makeTempDir>;

  beforeEach(async () => {
    net = new RelayTestNet();
    await net.start();
    temp = makeTempDir('bitchat-relay-only-');
  });

  afterEach(async () => {
    await net.stop();
    temp.cleanup();
  });

  /** A NATed node told of the relay at `port` registers a network with it. */
  async function natRegistersWith(port: number): Promise<void> {
    const nat = await net.node('nat', { relays: [`127.0.0.1:${port}`], maxRelays: 1 });
    await nat.kernel.hooks.announce.promise({ networkId: randomBytes(20), port: 1 });
    await waitFor(() => nat.relay.client?.reachability === 'unreachable' && nat.relay.client.relays().some((r) => r.port === port), 'the NATed node to register with the relay', 10_000);
  }

  it('runs through the real kernel with only dht + relay and no profile, and is found on the DHT', async () => {
    const config = testConfig(temp.path, {
      profile: null,
      plugins: {
        dht: { host: '127.0.0.1', bootstrap: net.dht.bootstrap, allowPrivateAddresses: true, persistRoutingTable: false },
        relay: { serve: true },
      },
    });
    expect(config.profile).to.equal(null);
    const kernel = await createTestKernel(config);
    try {
      await kernel.start();
      expect(kernel.pluginStatus().map((p) => [p.name, p.state])).to.deep.equal([
        ['dht', 'loaded'],
        ['relay', 'loaded'],
      ]);
      const relayPort = kernel.connections.localPort;
      // A client looking for relays on the DHT finds this one.
      const seeker = await net.node('member');
      await waitFor(
        async () => {
          await seeker.kernel.resolve('dht').lookup(RELAY_INFO_HASH);
          return seeker.seen.some((s) => s.networkId.equals(RELAY_INFO_HASH) && s.endpoint.port === relayPort);
        },
        'the relay on the DHT',
        10_000,
        200,
      );
      await natRegistersWith(relayPort);
      expect(kernel.resolve('relay').service.stats.clients).to.equal(1);
    } finally {
      await kernel.stop();
    }
  });

  for (const command of ['start', 'relay'] as const) {
    it(`runs from the CLI: bitchat ${command} --config (dht + relay only, no profile)`, async () => {
      const port = await freePort();
      const file = join(temp.path, 'config.json');
      writeFileSync(
        file,
        JSON.stringify({
          dataDir: join(temp.path, 'data'),
          profile: null,
          listen: { host: '127.0.0.1', port },
          plugins: {
            dht: { host: '127.0.0.1', bootstrap: net.dht.bootstrap, allowPrivateAddresses: true },
            // `bitchat relay` turns serve on by itself.
            relay: command === 'start' ? { serve: true } : {},
          },
        }),
      );
      const result = await runCli([command, '--config', file], /Press Ctrl-C/, () => natRegistersWith(port));
      if (result.failure) throw result.failure;
      expect(result.code, result.err).to.equal(0);
      expect(result.out).to.match(/plugins: dht, relay/);
      expect(result.out).to.contain('stopping...');
    });
  }
});
