/**
 * A testnet: N real kernels in this process on 127.0.0.1, each with a throwaway
 * self-issued profile (RSA-2048 keys generated once per test run and reused; benches
 * can ask for production-size RSA-4096 keys) and an
 * in-process rendezvous as discovery: a chat that announces is told every node that
 * announced the same network before it (like a tracker answering an announce).
 */
import type { KeyObject } from 'node:crypto';
import { Kernel } from '../../core/kernel.js';
import { createLogger } from '../../core/logger.js';
import { generateRsaKeyPair, type RsaKeyPair } from '../../core/identity/keys.js';
import { Profile } from '../../core/identity/profile.js';
import type { ChatNode } from '../../core/node/chat-node.js';
import type { InlinePlugin } from '../../core/plugin-loader.js';
import type { PluginApi } from '../../core/plugin.js';
import { testConfig } from './kernel.js';
import { makeTempDir } from './temp-dir.js';

export const TEST_KEY_BITS = 2048;
const POLL_MS = 20;

const keyPools = new Map<number, Array<Promise<RsaKeyPair>>>();

/** The i-th test key pair of this run with `bits` bits (generated on first use, then reused). */
export function testKeyPair(i: number, bits = TEST_KEY_BITS): Promise<RsaKeyPair> {
  let pool = keyPools.get(bits);
  if (!pool) keyPools.set(bits, (pool = []));
  while (pool.length <= i) pool.push(generateRsaKeyPair({ bits }));
  return pool[i]!;
}

/** A fresh self-issued profile on a pooled key. */
export async function testProfile(email: string, keyIndex: number, name = email.split('@')[0]!, bits = TEST_KEY_BITS): Promise<Profile> {
  const keyPair = await testKeyPair(keyIndex, bits);
  return Profile.createSelfIssued({ subject: { name, email }, keyPair });
}

export interface TestnetKeys {
  /** RSA key size of the profiles. @default TEST_KEY_BITS */
  bits?: number;
  /**
   * Distinct key pairs, shared round-robin by the profiles (each still has its own
   * e-mail and certificate; signing and verifying cost the same). RSA-4096 key
   * generation takes ~1 s each, so a bench of 50 production-size profiles uses a few.
   * @default one per peer
   */
  distinct?: number;
}

interface Announced {
  api: PluginApi;
  port: number;
}

/** In-process discovery: announce reports every earlier announcer of the network to the announcer. */
export class Rendezvous {
  readonly stats = { announces: 0, reports: 0 };
  private readonly nets = new Map<string, Map<string, Announced>>();
  private seq = 0;
  private readonly maxReports: number;

  /** `maxReports`: at most this many earlier announcers are reported (the newest), so the rest must come from peer exchange. */
  constructor(options: { maxReports?: number } = {}) {
    this.maxReports = options.maxReports ?? Infinity;
  }

  plugin(): InlinePlugin {
    const node = `node-${this.seq++}`;
    return {
      definition: {
        name: 'test-rendezvous',
        version: '0.0.0',
        apply: (api: PluginApi) => {
          api.hooks.announce.tapPromise('test-rendezvous', async ({ networkId, port }) => {
            this.stats.announces++;
            const key = networkId.toString('hex');
            let net = this.nets.get(key);
            if (!net) this.nets.set(key, (net = new Map()));
            net.set(node, { api, port });
            const earlier = [...net].filter(([other]) => other !== node).slice(-this.maxReports);
            for (const [, a] of earlier) {
              this.stats.reports++;
              api.reportPeer(networkId, { host: '127.0.0.1', port: a.port }, 'test-rendezvous');
            }
          });
          api.hooks.withdraw.tapPromise('test-rendezvous', async (networkId) => {
            this.nets.get(networkId.toString('hex'))?.delete(node);
          });
          api.hooks.stop.tapPromise('test-rendezvous', async () => {
            for (const net of this.nets.values()) net.delete(node);
          });
        },
      },
    };
  }
}

export interface TestPeer {
  readonly email: string;
  readonly profile: Profile;
  readonly dataDir: string;
  kernel: Kernel;
  /** The chat facade of the running kernel. */
  readonly chat: ChatNode;
  readonly publicKey: KeyObject;
}

export class Testnet {
  readonly peers: TestPeer[] = [];
  readonly rendezvous: Rendezvous;
  /** More inline plugins for every kernel booted from now on (message-type plugins in tests). */
  extraPlugins: () => InlinePlugin[] = () => [];
  private readonly dirs: Array<{ cleanup(): void }> = [];
  private readonly keys: TestnetKeys;

  constructor(rendezvous: Rendezvous = new Rendezvous(), keys: TestnetKeys = {}) {
    this.rendezvous = rendezvous;
    this.keys = keys;
  }

  /** Starts `n` kernels with profiles `peer<i>@test.local` (or the given e-mails). */
  static async start(n: number, emails?: string[], rendezvous?: Rendezvous, keys?: TestnetKeys): Promise<Testnet> {
    const net = new Testnet(rendezvous, keys);
    await Promise.all(Array.from({ length: Math.min(n, keys?.distinct ?? n) }, (_, i) => testKeyPair(i, keys?.bits)));
    try {
      for (let i = 0; i < n; i++) await net.addPeer(emails?.[i] ?? `peer${i}@test.local`, i);
    } catch (err) {
      await net.stop();
      throw err;
    }
    return net;
  }

  /** A new kernel with its own profile on pooled key `keyIndex`. */
  async addPeer(email: string, keyIndex = this.peers.length): Promise<TestPeer> {
    const dir = makeTempDir('bitchat-testnet-');
    this.dirs.push(dir);
    const profile = await testProfile(email, keyIndex % (this.keys.distinct ?? Infinity), undefined, this.keys.bits);
    const kernel = await this.boot(dir.path, profile);
    const peer: TestPeer = {
      email,
      profile,
      dataDir: dir.path,
      kernel,
      get chat(): ChatNode {
        return this.kernel.resolve('chat');
      },
      publicKey: profile.publicKey,
    };
    this.peers.push(peer);
    return peer;
  }

  /** Another device of `peer`'s user: same profile (key, e-mail), own data folder and node. */
  async addDevice(peer: TestPeer): Promise<TestPeer> {
    const dir = makeTempDir('bitchat-testnet-');
    this.dirs.push(dir);
    const kernel = await this.boot(dir.path, peer.profile);
    const device: TestPeer = {
      email: peer.email,
      profile: peer.profile,
      dataDir: dir.path,
      kernel,
      get chat(): ChatNode {
        return this.kernel.resolve('chat');
      },
      publicKey: peer.publicKey,
    };
    this.peers.push(device);
    return device;
  }

  /** Stops a peer's kernel (its data stays). */
  async stopPeer(peer: TestPeer): Promise<void> {
    await peer.kernel.stop();
  }

  /** A new kernel on the peer's data folder and profile: its chats come back online. */
  async restartPeer(peer: TestPeer): Promise<void> {
    await peer.kernel.stop();
    peer.kernel = await this.boot(peer.dataDir, peer.profile);
  }

  async stop(): Promise<void> {
    for (const p of this.peers) await p.kernel.stop().catch(() => undefined);
    for (const d of this.dirs) d.cleanup();
  }

  private async boot(dataDir: string, profile: Profile): Promise<Kernel> {
    const kernel = await Kernel.create({
      config: testConfig(dataDir, { profile: null }),
      logger: createLogger('silent'),
      plugins: [this.rendezvous.plugin(), ...this.extraPlugins()],
      profile,
    });
    await kernel.start();
    return kernel;
  }
}

/** Polls `check` until it returns true; bounded in time. */
export async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
