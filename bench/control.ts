/**
 * The local control socket (`core/control`): what a request costs the CLI or a
 * script beside a running node.
 * `node --import tsx bench/control.ts` (or `npm run bench control`).
 *
 * - round trip of a trivial method, one request at a time, vs a bare
 *   newline-delimited JSON echo over a Unix socket (parse + stringify, no registry);
 * - requests per second with a window of 32 in flight (the server's cap per
 *   connection is MAX_PENDING_PER_CONNECTION), the same two;
 * - `chat.send` through the socket (a group with no one online: stored, not sent)
 *   vs the chat facade's `send` called in-process.
 * Ours and the reference alternate in rounds; medians are reported.
 */
import { createServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ControlClient, controlSocketPath } from '../core/control/index.js';
import type { PluginApi } from '../core/plugin.js';
import { Testnet } from '../test/helpers/testnet.js';
import type { BenchRow } from './types.js';

const ROUNDS = 5;
const SEQUENTIAL_CALLS = 1_000;
const PIPELINED_CALLS = 10_000;
const WINDOW = 32;
const SEND_CALLS = 300;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The reference: an NDJSON echo on a Unix socket, and a client that waits for each line. */
class EchoPair {
  private constructor(
    private readonly server: ReturnType<typeof createServer>,
    private readonly socket: Socket,
  ) {}

  static async start(path: string): Promise<EchoPair> {
    const server = createServer((s) => {
      let held = '';
      s.on('data', (chunk) => {
        held += chunk;
        let nl: number;
        let out = '';
        while ((nl = held.indexOf('\n')) !== -1) {
          const request = JSON.parse(held.slice(0, nl)) as { id: number; params: unknown };
          held = held.slice(nl + 1);
          out += JSON.stringify({ id: request.id, result: request.params }) + '\n';
        }
        if (out) s.write(out);
      });
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    const socket = connect({ path });
    await new Promise((resolve) => socket.once('connect', resolve));
    return new EchoPair(server, socket);
  }

  /** Sends `count` requests, at most `window` in flight, and resolves when every answer came back. */
  run(count: number, window: number): Promise<void> {
    return new Promise((resolve) => {
      let answered = 0;
      let sent = 0;
      let held = '';
      const send = (): void => {
        this.socket.write(JSON.stringify({ id: sent, method: 'bench.echo', params: { n: sent } }) + '\n');
        sent++;
      };
      const onData = (chunk: Buffer): void => {
        held += chunk;
        let nl: number;
        while ((nl = held.indexOf('\n')) !== -1) {
          JSON.parse(held.slice(0, nl));
          held = held.slice(nl + 1);
          answered++;
          if (sent < count) send();
        }
        if (answered >= count) {
          this.socket.off('data', onData);
          resolve();
        }
      };
      this.socket.on('data', onData);
      while (sent < Math.min(window, count)) send();
    });
  }

  async stop(): Promise<void> {
    this.socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const echoPlugin = {
  definition: {
    name: 'bench-control',
    version: '0.0.0',
    apply: (api: PluginApi) => api.hooks.controlMethods.tap('bench-control', (r) => r.add('bench.echo', { description: 'echo', handler: (params) => params })),
  },
};

export async function run(): Promise<BenchRow[]> {
  const net = new Testnet();
  net.extraPlugins = () => [echoPlugin];
  const peer = await net.addPeer('bench@test.local', 0);
  const client = (await ControlClient.connect(controlSocketPath(peer.dataDir)))!;
  const echo = await EchoPair.start(join(peer.dataDir, 'echo.sock'));
  try {
    const chatId = (await peer.chat.createGroup('bench')).chatId;
    const seq = { ours: [] as number[], ref: [] as number[] };
    const pipe = { ours: [] as number[], ref: [] as number[] };
    const send = { ours: [] as number[], ref: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      let t = performance.now();
      for (let i = 0; i < SEQUENTIAL_CALLS; i++) await client.call('bench.echo', { n: i });
      seq.ours.push(((performance.now() - t) * 1000) / SEQUENTIAL_CALLS);
      t = performance.now();
      await echo.run(SEQUENTIAL_CALLS, 1);
      seq.ref.push(((performance.now() - t) * 1000) / SEQUENTIAL_CALLS);

      t = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: WINDOW }, async () => {
          while (next < PIPELINED_CALLS) await client.call('bench.echo', { n: next++ });
        }),
      );
      pipe.ours.push(PIPELINED_CALLS / ((performance.now() - t) / 1000));
      t = performance.now();
      await echo.run(PIPELINED_CALLS, WINDOW);
      pipe.ref.push(PIPELINED_CALLS / ((performance.now() - t) / 1000));

      t = performance.now();
      for (let i = 0; i < SEND_CALLS; i++) await client.call('chat.send', { chat: chatId, text: `message ${i}` });
      send.ours.push(((performance.now() - t) * 1000) / SEND_CALLS);
      t = performance.now();
      for (let i = 0; i < SEND_CALLS; i++) peer.chat.send(chatId, `message ${i}`);
      send.ref.push(((performance.now() - t) * 1000) / SEND_CALLS);
    }
    return [
      { name: 'control round trip (one at a time)', value: median(seq.ours), unit: 'us', reference: { name: 'bare NDJSON echo on a Unix socket', value: median(seq.ref) }, target: 'well under a person\'s notice (< 1 ms)' },
      { name: `control requests, ${WINDOW} in flight`, value: median(pipe.ours), unit: 'req/s', reference: { name: 'bare NDJSON echo on a Unix socket', value: median(pipe.ref) } },
      { name: 'chat.send through the socket', value: median(send.ours), unit: 'us', reference: { name: 'chat facade send in-process', value: median(send.ref) } },
    ];
  } finally {
    client.close();
    await echo.stop();
    await net.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  for (const r of await run()) {
    const ref = r.reference ? `  (${r.reference.name}: ${r.reference.value.toFixed(1)} ${r.unit}, ${(r.value / r.reference.value).toFixed(2)}x)` : '';
    process.stdout.write(`${r.name}: ${r.value.toFixed(1)} ${r.unit}${ref}\n`);
  }
}
