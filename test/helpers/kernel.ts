import { Kernel, type KernelOptions } from '../../core/kernel.js';
import { resolveConfig, type KernelConfig } from '../../core/config.js';
import { createLogger } from '../../core/logger.js';
import type { InlinePlugin } from '../../core/plugin-loader.js';

/** A validated config for a test node whose data lives in `dataDir`. */
export function testConfig(dataDir: string, extra: Record<string, unknown> = {}, source: string | null = null): KernelConfig {
  return resolveConfig({ dataDir, logLevel: 'silent', listen: { host: '127.0.0.1', port: 0 }, ...extra }, source);
}

/** A kernel with a silent logger, for tests. */
export function createTestKernel(config: KernelConfig, plugins: InlinePlugin[] = [], options: Partial<KernelOptions> = {}): Promise<Kernel> {
  return Kernel.create({ config, plugins, logger: createLogger('silent'), ...options });
}
