/**
 * `bitchat demo`: a few nodes in this process on 127.0.0.1 that find each
 * other through a local tracker, a local DHT and LAN discovery, form a group
 * chat, exchange messages and share a file, with each step and its timing printed. Nothing
 * leaves the machine: every discovery medium is local.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import DHT from 'bittorrent-dht';
import { Server as TrackerServer } from 'bittorrent-tracker';
import { resolveConfig } from './config.js';
import { Profile } from './identity/profile.js';
import { generateRsaKeyPair } from './identity/keys.js';
import { Kernel } from './kernel.js';
import { createLogger } from './logger.js';
import type { ChatNode } from './node/chat-node.js';
import type { StoredMessage } from './chat/history-store.js';

const LOOPBACK = '127.0.0.1';
const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin'];
const STEP_TIMEOUT_MS = 30_000;
const POLL_MS = 20;
const DEMO_FILE_BYTES = 8 * 2 ** 20;

export interface DemoOptions {
  /** Nodes to start, 3 to 5. */
  nodes: number;
  /** RSA key size of the throwaway profiles (the product uses 4096). */
  keyBits: number;
  /** Stop after the script instead of waiting for Ctrl-C (tests). */
  exitWhenDone: boolean;
  /** Resolves when the user wants to stop (Ctrl-C); not called with exitWhenDone. */
  untilStopped: () => Promise<void>;
  out(line: string): void;
}

interface DemoNode {
  name: string;
  kernel: Kernel;
  chat: ChatNode;
  chatId: number;
  received: StoredMessage[];
}

/** Resources the demo opens, closed in reverse order whatever happens. */
class Cleanup {
  readonly #steps: Array<() => Promise<void> | void> = [];
  add(step: () => Promise<void> | void): void {
    this.#steps.push(step);
  }
  async run(): Promise<void> {
    for (const step of this.#steps.reverse()) await Promise.resolve(step()).catch(() => undefined);
  }
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`demo: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, LOOPBACK, resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** The file-share service as the demo uses it (plugins/file-share registers it). */
interface DemoFileShare {
  share(path: string, chat: string): Promise<{ fileId: string; name: string; size: number }>;
  download(fileId: string): Promise<void>;
  list(): Array<{ fileId: string; state: string; path: string | null }>;
  stats: { uploadedBytes: number };
  on(event: 'advertised', listener: (info: { fileId: string }) => void): void;
}

/** The first node shares a file into the group; every other node downloads it and checks its hash. */
async function shareAFile(nodes: DemoNode[], root: string, say: (line: string) => void): Promise<void> {
  const services = nodes.map((node) => node.kernel.resolve('fileShare') as DemoFileShare);
  const content = randomBytes(DEMO_FILE_BYTES);
  const source = join(root, 'holiday-photos.bin');
  writeFileSync(source, content);
  const advertised = nodes.map(() => new Set<string>());
  services.forEach((service, i) => service.on('advertised', (info) => advertised[i]!.add(info.fileId)));
  const started = performance.now();
  const shared = await services[0]!.share(source, String(nodes[0]!.chatId));
  say(`${nodes[0]!.name} shares ${shared.name} (${(shared.size / 2 ** 20).toFixed(0)} MiB) into the group`);
  await waitFor(() => advertised.slice(1).every((ids) => ids.has(shared.fileId)), 'the file advertisement');
  await Promise.all(services.slice(1).map((service) => service.download(shared.fileId)));
  const done = (service: DemoFileShare): { path: string | null } | undefined =>
    service.list().find((file) => file.fileId === shared.fileId && file.state === 'done');
  await waitFor(() => services.slice(1).every((service) => done(service)), 'the downloads');
  const expected = createHash('sha256').update(content).digest('hex');
  const intact = services.slice(1).every((service) => createHash('sha256').update(readFileSync(done(service)!.path!)).digest('hex') === expected);
  const seeded = services[0]!.stats.uploadedBytes / shared.size;
  say(
    `all ${nodes.length - 1} others downloaded it in ${(performance.now() - started).toFixed(0)} ms, SHA-256 ${intact ? 'matches' : 'DIFFERS'}; ` +
      `${nodes[0]!.name} uploaded ${seeded.toFixed(2)}x the file (members passed blocks on to each other)`,
  );
  if (!intact) throw new Error('demo: a downloaded file differs from the original');
}

export async function runDemo(options: DemoOptions): Promise<void> {
  const { out } = options;
  const count = Math.min(Math.max(options.nodes, 3), NAMES.length);
  const t0 = performance.now();
  const at = (): string => `${((performance.now() - t0) / 1000).toFixed(2)}s`.padStart(7);
  const say = (line: string): void => out(`[${at()}] ${line}`);
  const cleanup = new Cleanup();
  const root = mkdtempSync(join(tmpdir(), 'bitchat-demo-'));
  cleanup.add(() => rmSync(root, { recursive: true, force: true }));
  try {
    // Local discovery media: a tracker, a DHT bootstrap node, and LAN on loopback.
    const tracker = new TrackerServer({ http: true, udp: true, ws: false, stats: false, interval: 5_000 });
    tracker.on('warning', () => undefined);
    tracker.on('error', () => undefined);
    await new Promise<void>((resolve) => tracker.listen(0, { http: LOOPBACK, udp: LOOPBACK }, () => resolve()));
    cleanup.add(() => new Promise<void>((resolve) => tracker.close(() => resolve())));
    const trackerUrl = `http://${LOOPBACK}:${(tracker.http!.address() as { port: number }).port}/announce`;
    const bootstrap = new DHT({ bootstrap: false });
    await new Promise<void>((resolve) => bootstrap.listen(0, LOOPBACK, () => resolve()));
    cleanup.add(() => new Promise<void>((resolve) => bootstrap.destroy(() => resolve())));
    const dhtBootstrap = `${LOOPBACK}:${bootstrap.address().port}`;
    const lanPort = await freeUdpPort();
    say(`local tracker ${trackerUrl}, DHT bootstrap ${dhtBootstrap}, LAN discovery on UDP ${lanPort} (loopback only)`);

    say(`making ${count} throwaway self-issued profiles (RSA-${options.keyBits})...`);
    const profiles = await Promise.all(
      NAMES.slice(0, count).map(async (name) =>
        Profile.createSelfIssued({ subject: { name, email: `${name}@demo.local` }, keyPair: await generateRsaKeyPair({ bits: options.keyBits }) }),
      ),
    );
    say('profiles ready');

    const nodes: DemoNode[] = [];
    for (const [i, profile] of profiles.entries()) {
      const name = NAMES[i]!;
      const config = resolveConfig(
        {
          dataDir: join(root, name),
          logLevel: 'silent',
          listen: { host: LOOPBACK, port: 0 },
          plugins: {
            dht: { bootstrap: [dhtBootstrap], allowPrivateAddresses: true, persistRoutingTable: false },
            trackers: { announce: [trackerUrl], allowPrivateAddresses: true, fastIntervalSeconds: 30, honourMinInterval: false },
            'lan-discovery': { port: lanPort, loopbackOnly: true },
            'file-share': {},
            ...(i === 0 ? { 'http-ui': { port: 0 } } : {}),
          },
        },
        null,
      );
      const kernel = await Kernel.create({ config, logger: createLogger('silent'), profile });
      cleanup.add(() => kernel.stop());
      await kernel.start();
      const chat = kernel.resolve('chat');
      nodes.push({ name, kernel, chat, chatId: -1, received: [] });
      say(`${name} is up on port ${kernel.connections.localPort}`);
    }

    const secret = randomBytes(9).toString('base64url');
    const firstPeer = new Map<string, string>();
    const meshTimes = new Map<string, string>();
    for (const node of nodes) {
      node.chat.on('member', (_chatId: number, member: { identity: string; online: boolean }) => {
        if (member.online && !firstPeer.has(node.name)) {
          firstPeer.set(node.name, at());
          say(`${node.name} found its first peer: ${member.identity}`);
        }
      });
      node.chat.on('mesh', (_chatId: number, status: string) => {
        if (status === 'full' && !meshTimes.has(node.name)) meshTimes.set(node.name, at());
      });
      node.chat.on('message', (_chatId: number, message: StoredMessage) => {
        if (!message.outgoing) node.received.push(message);
      });
    }
    say(`everyone joins the group "demo" (with a shared secret)`);
    for (const node of nodes) node.chatId = (await node.chat.createGroup('demo', secret)).chatId;

    await waitFor(
      () => nodes.every((n) => n.chat.members(n.chatId).filter((m) => m.online).length >= count - 1),
      'a full mesh',
    );
    say(`full mesh: each of the ${count} nodes holds a secure channel to the ${count - 1} others`);

    const sentAt = performance.now();
    nodes[0]!.chat.send(nodes[0]!.chatId, `hello from ${nodes[0]!.name}!`);
    await waitFor(() => nodes.slice(1).every((n) => n.received.some((m) => m.text?.startsWith('hello from'))), 'the first message');
    say(`${nodes[0]!.name}'s message reached all ${count - 1} others in ${(performance.now() - sentAt).toFixed(1)} ms`);
    for (const node of nodes.slice(1)) node.chat.send(node.chatId, `hi ${nodes[0]!.name}, ${node.name} here`);
    await waitFor(() => nodes[0]!.received.filter((m) => m.text?.includes('here')).length === count - 1, 'the replies');
    for (const m of nodes[0]!.received.filter((m) => m.text?.includes('here'))) say(`${nodes[0]!.name} got: "${m.text}" from ${m.sender}`);

    await shareAFile(nodes, root, say);

    const ui = nodes[0]!.kernel.tryResolve('httpUi') as { url: string | null } | undefined;
    if (ui?.url) say(`watch ${nodes[0]!.name}'s node in the browser: ${ui.url}`);
    if (!options.exitWhenDone) {
      say('the nodes keep running; press Ctrl-C to stop');
      await options.untilStopped();
    }
  } finally {
    say('stopping...');
    await cleanup.run();
    say('stopped');
  }
}
