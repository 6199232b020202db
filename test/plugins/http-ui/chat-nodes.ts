/**
 * Nodes with the real chat wiring (identity and chat services from the kernel)
 * and the web UI, found by each other through the testnet's in-process
 * rendezvous (`new Rendezvous().plugin()` per node).
 */
import { join } from 'node:path';
import type { KernelOptions } from '../../../core/kernel.js';
import type { InlinePlugin } from '../../../core/plugin-loader.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { bootUiNode, type UiNode } from './ui-node.js';

/** Cheaper keys and profile KDF than a real profile's, so the test takes seconds. */
const FAST_PROFILE = { profileBits: 2048, profileIterations: 200_000 } as Partial<KernelOptions>;

export async function startChatNode(plugin: InlinePlugin, extraPlugins: Record<string, unknown> = {}): Promise<UiNode> {
  const dir = makeTempDir('bitchat-ui2-');
  const configFile = join(dir.path, 'config.json');
  const raw = {
    dataDir: join(dir.path, 'data'),
    profile: join(dir.path, 'data', 'default.profile'),
    logLevel: 'silent',
    listen: { host: '127.0.0.1', port: 0 },
    plugins: { 'http-ui': { port: 0 }, ...extraPlugins },
  };
  return bootUiNode(dir, configFile, raw, [plugin], FAST_PROFILE);
}

