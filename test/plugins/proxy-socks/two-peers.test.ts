/**
 * Two nodes, each sending everything through its own proxy (A behind dante,
 * B behind tinyproxy), exchange lines both ways. Until the connection layer
 * and chat land, a tiny inline "line-chat" plugin stands in for them: it
 * listens on 127.0.0.1 and dials the other node through `hooks.dial`.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { expect } from 'chai';
import type { Kernel } from '../../../core/kernel.js';
import { definePlugin } from '../../../core/plugin.js';
import type { DialRequest } from '../../../core/types.js';
import type { ProxyService } from '../../../plugins/proxy-socks/index.js';
import { createTestKernel, testConfig } from '../../helpers/kernel.js';
import { skipWithout, startDante, startTinyproxy, type RunningProxy } from '../../helpers/proxy-servers.js';
import { makeTempDir } from '../../helpers/temp-dir.js';

interface LineChat {
  port: number;
  received: string[];
  dial(port: number): Promise<Duplex>;
}

/** Listens for newline-separated lines; dials others through the kernel's dial hook. */
function lineChatPlugin(dialVia: () => Kernel): ReturnType<typeof definePlugin> {
  return definePlugin({
    name: 'line-chat',
    version: '1.0.0',
    apply(api) {
      let server: Server | undefined;
      const sockets = new Set<Socket>();
      const chat: LineChat = {
        port: 0,
        received: [],
        async dial(port: number) {
          const request: DialRequest = { endpoint: { host: 'localhost', port }, timeoutMs: 5000 };
          const stream = await dialVia().hooks.dial.promise(request);
          if (stream === undefined) throw new Error('no dial tap answered');
          return stream;
        },
      };
      api.hooks.start.tapPromise('line-chat', async () => {
        server = createServer((socket) => {
          sockets.add(socket);
          socket.once('close', () => sockets.delete(socket));
          let pending = '';
          socket.on('data', (chunk: Buffer) => {
            pending += chunk.toString();
            const lines = pending.split('\n');
            pending = lines.pop() ?? '';
            chat.received.push(...lines);
          });
        });
        await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
        chat.port = (server.address() as AddressInfo).port;
        api.register('lineChat', chat);
      });
      api.hooks.stop.tapPromise('line-chat', async () => {
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      });
    },
  });
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  expect.fail(`timed out waiting for ${what}`);
}

describe('proxy-socks: two peers, each behind its own proxy', function () {
  let dante: RunningProxy | undefined;
  let tiny: RunningProxy | undefined;
  const temps: Array<ReturnType<typeof makeTempDir>> = [];
  const kernels: Kernel[] = [];

  before(async function () {
    skipWithout(this, 'danted');
    skipWithout(this, 'tinyproxy');
    dante = await startDante({ debug: true });
    tiny = await startTinyproxy();
  });
  after(async () => {
    for (const kernel of kernels.splice(0)) await kernel.stop().catch(() => {});
    for (const temp of temps.splice(0)) temp.cleanup();
    await dante?.stop();
    await tiny?.stop();
  });

  async function node(proxy: RunningProxy): Promise<Kernel> {
    const temp = makeTempDir();
    temps.push(temp);
    let kernel: Kernel | undefined;
    kernel = await createTestKernel(
      testConfig(temp.path, { plugins: { 'proxy-socks': { type: proxy.type, host: proxy.host, port: proxy.port } } }),
      [{ definition: lineChatPlugin(() => kernel as Kernel) }],
    );
    kernels.push(kernel);
    await kernel.start();
    return kernel;
  }

  it('A (SOCKS5) and B (HTTP CONNECT) send each other lines through their proxies', async () => {
    const alice = await node(dante!);
    const bob = await node(tiny!);
    const aliceChat = alice.resolve<LineChat>('lineChat');
    const bobChat = bob.resolve<LineChat>('lineChat');

    const toBob = await aliceChat.dial(bobChat.port);
    const toAlice = await bobChat.dial(aliceChat.port);
    toBob.write('hello bob, from behind dante\n');
    toAlice.write('hi alice, from behind tinyproxy\n');
    await waitFor(() => bobChat.received.length === 1 && aliceChat.received.length === 1, 'both lines');
    expect(bobChat.received).to.deep.equal(['hello bob, from behind dante']);
    expect(aliceChat.received).to.deep.equal(['hi alice, from behind tinyproxy']);
    toBob.destroy();
    toAlice.destroy();

    // Each went through its own proxy, by name.
    expect(alice.resolve<ProxyService>('proxy').stats.connects).to.equal(1);
    expect(bob.resolve<ProxyService>('proxy').stats.connects).to.equal(1);
    expect(dante!.log()).to.include(`ATYP: 3 address: localhost.${bobChat.port}`);
    expect(tiny!.log()).to.include(`CONNECT localhost:${aliceChat.port} HTTP/1.1`);
  });
});
