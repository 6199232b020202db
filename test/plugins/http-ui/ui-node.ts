import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { resolveConfig } from '../../../core/config.js';
import type { Kernel, KernelOptions } from '../../../core/kernel.js';
import type { InlinePlugin } from '../../../core/plugin-loader.js';
import { createTestKernel } from '../../helpers/kernel.js';
import { makeTempDir } from '../../helpers/temp-dir.js';

export interface UiNode {
  kernel: Kernel;
  /** The printed address, with the token. */
  url: string;
  port: number;
  token: string;
  /** `http://127.0.0.1:PORT` */
  base: string;
  configFile: string;
  /** Stops the kernel and starts a new one on the same config and data folder (new port and token). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A node with the http-ui plugin on a free port, its config in a real file. */
export async function startUiNode(plugins: InlinePlugin[] = [], extraPlugins: Record<string, unknown> = {}): Promise<UiNode> {
  const dir = makeTempDir('bitchat-ui-');
  const configFile = join(dir.path, 'config.json');
  const raw = {
    dataDir: join(dir.path, 'data'),
    // No profile: with one, the kernel's own identity service would be there, and the stand-in's could not register.
    profile: null,
    logLevel: 'silent',
    listen: { host: '127.0.0.1', port: 0 },
    plugins: { 'http-ui': { port: 0 }, ...extraPlugins },
  };
  return bootUiNode(dir, configFile, raw, plugins);
}

/**
 * Writes `raw` as the node's config file, starts a kernel on it and returns the
 * handle the UI tests use; the folder is removed on stop, or at once if start fails.
 */
export async function bootUiNode(
  dir: { path: string; cleanup(): void },
  configFile: string,
  raw: Record<string, unknown>,
  plugins: InlinePlugin[],
  options: Partial<KernelOptions> = {},
): Promise<UiNode> {
  // A failed start closes what it opened itself.
  const boot = async (): Promise<Kernel> => {
    const kernel = await createTestKernel(resolveConfig(raw, configFile), plugins, options);
    await kernel.start();
    return kernel;
  };
  /** Where the node's UI is now (the port and token change with every start). */
  const address = (kernel: Kernel): Pick<UiNode, 'kernel' | 'url' | 'port' | 'token' | 'base'> => {
    const url = kernel.resolve('httpUi').url!;
    const parsed = new URL(url);
    return { kernel, url, port: Number(parsed.port), token: parsed.searchParams.get('token')!, base: `${parsed.protocol}//${parsed.host}` };
  };
  let first: Kernel;
  try {
    writeFileSync(configFile, JSON.stringify(raw, null, 2));
    first = await boot();
  } catch (err) {
    dir.cleanup();
    throw err;
  }
  const node: UiNode = {
    ...address(first),
    configFile,
    async restart() {
      await node.kernel.stop();
      Object.assign(node, address(await boot()));
    },
    async stop() {
      try {
        await node.kernel.stop();
      } finally {
        dir.cleanup();
      }
    },
  };
  return node;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json<T = any>(): T;
}

/** A plain HTTP request with full control of the headers (Host included), to 127.0.0.1 only. */
export function rawRequest(port: number, path: string, options: { method?: string; headers?: Record<string, string>; body?: unknown } = {}): Promise<RawResponse> {
  const payload = options.body === undefined ? undefined : Buffer.isBuffer(options.body) ? options.body : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers: {
          host: `127.0.0.1:${port}`,
          ...(payload !== undefined
            ? { 'content-type': Buffer.isBuffer(payload) ? 'application/octet-stream' : 'application/json', 'content-length': String(Buffer.byteLength(payload)) }
            : {}),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`request to ${path} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** An authorised API call (token as a bearer header, as a script would send it). */
export function api(node: UiNode, path: string, options: { method?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  return rawRequest(node.port, path, { ...options, headers: { authorization: `Bearer ${node.token}`, ...options.headers } });
}
