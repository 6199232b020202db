/**
 * Nodes with the real chat wiring (identity and chat services from the kernel)
 * and the web UI, found by each other through an in-process rendezvous.
 */
import { join } from 'node:path';
import type { KernelOptions } from '../../../core/kernel.js';
import type { InlinePlugin } from '../../../core/plugin-loader.js';
import type { PluginApi } from '../../../core/plugin.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { bootUiNode, type UiNode } from './ui-node.js';

/** Cheaper keys and profile KDF than a real profile's, so the test takes seconds. */
const FAST_PROFILE = { profileBits: 2048, profileIterations: 200_000 } as Partial<KernelOptions>;

/** Announce answers with every earlier announcer of the same network, like a tracker. */
export function rendezvous(): () => InlinePlugin {
  const nets = new Map<string, Map<string, number>>();
  let seq = 0;
  return () => {
    const me = `node-${seq++}`;
    return {
      definition: {
        name: 'test-rendezvous',
        version: '0.0.0',
        apply(a: PluginApi) {
          a.hooks.announce.tapPromise('test-rendezvous', async ({ networkId, port }) => {
            const key = networkId.toString('hex');
            const net = nets.get(key) ?? new Map<string, number>();
            nets.set(key, net);
            net.set(me, port);
            for (const [other, otherPort] of net) if (other !== me) a.reportPeer(networkId, { host: '127.0.0.1', port: otherPort }, 'test-rendezvous');
          });
          a.hooks.withdraw.tapPromise('test-rendezvous', async (networkId) => void nets.get(networkId.toString('hex'))?.delete(me));
          a.hooks.stop.tapPromise('test-rendezvous', async () => {
            for (const net of nets.values()) net.delete(me);
          });
        },
      },
    };
  };
}

export async function startChatNode(plugin: InlinePlugin): Promise<UiNode> {
  const dir = makeTempDir('bitchat-ui2-');
  const configFile = join(dir.path, 'config.json');
  const raw = {
    dataDir: join(dir.path, 'data'),
    profile: join(dir.path, 'data', 'default.profile'),
    logLevel: 'silent',
    listen: { host: '127.0.0.1', port: 0 },
    plugins: { 'http-ui': { port: 0 } },
  };
  return bootUiNode(dir, configFile, raw, [plugin], FAST_PROFILE);
}

