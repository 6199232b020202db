import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, statSync, writeFileSync, readFileSync, mkdirSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { ControlClient, ControlMethods, ControlServer, controlSocketPath, ControlErrorCode, MAX_REQUEST_BYTES, type ChatJson, type MessageJson, type NodeStatusJson, type SendResultJson } from '../../../core/control/index.js';
import { MAX_TEXT_BYTES } from '../../../core/chat/message-codec.js';
import { hasCode } from '../../../core/errors.js';
import type { Kernel } from '../../../core/kernel.js';
import type { PluginApi } from '../../../core/plugin.js';
import { createLogger } from '../../../core/logger.js';
import { createTestKernel, testConfig } from '../../helpers/kernel.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { Testnet, waitFor } from '../../helpers/testnet.js';

/** Writes raw bytes and collects reply lines until `count` arrived or the socket closed. */
async function rawExchange(path: string, payload: Buffer | string, count: number): Promise<{ lines: Array<Record<string, any>>; closed: boolean }> {
  const socket = connect({ path });
  const lines: Array<Record<string, any>> = [];
  let buffered = '';
  let closed = false;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${count} replies within 5 s (got ${lines.length})`)), 5_000);
    const finish = (): void => {
      clearTimeout(timer);
      resolve();
    };
    socket.on('data', (chunk) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        lines.push(JSON.parse(buffered.slice(0, nl)));
        buffered = buffered.slice(nl + 1);
      }
      if (lines.length >= count) finish();
    });
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.on('error', () => undefined);
    socket.write(payload);
  });
  socket.destroy();
  return { lines, closed };
}

describe('control socket', function () {
  this.timeout(30_000);

  describe('on a node with chats', () => {
    let net: Testnet;
    let client: ControlClient;
    let path: string;

    before(async () => {
      net = await Testnet.start(2, ['alice@test.local', 'bob@test.local']);
      path = controlSocketPath(net.peers[0]!.dataDir);
      client = (await ControlClient.connect(path))!;
    });
    after(async () => {
      client?.close();
      await net.stop();
    });

    it('listens in a private folder: socket 0600, folder 0700', () => {
      expect(statSync(path).isSocket()).to.equal(true);
      expect(statSync(path).mode & 0o777).to.equal(0o600);
      expect(statSync(dirname(path)).mode & 0o777).to.equal(0o700);
      expect(net.peers[0]!.kernel.controlServer?.listening).to.equal(true);
    });

    it('reports the node status: node ID, port, identity, plugins', async () => {
      const status = await client.call<NodeStatusJson>('node.status');
      const kernel = net.peers[0]!.kernel;
      expect(status.nodeId).to.equal(kernel.connections.peerId.toString('hex'));
      expect(status.port).to.equal(kernel.connections.localPort);
      expect(status.identity.state).to.equal('unlocked');
      expect(status.identity.email).to.equal('alice@test.local');
      expect(status.plugins.map((p) => p.name)).to.include('test-rendezvous');
      expect(status.pid).to.equal(process.pid);
    });

    it('joins a group in the running node, sends with deliveries as events, reads history and members', async () => {
      const joined = await client.call<ChatJson>('chat.join', { group: 'Control Room', secret: 'k' });
      expect(joined.online).to.equal(true);
      await net.peers[1]!.chat.createGroup('Control Room', 'k');
      await waitFor(() => net.peers[0]!.chat.members(joined.chatId).some((m) => m.online), 'bob online in alice\'s chat');

      const received: string[] = [];
      net.peers[1]!.chat.on('message', (_id: number, m: { text?: string }) => received.push(m.text ?? ''));
      const events: Array<[string, unknown]> = [];
      const sent = await client.call<SendResultJson>('chat.send', { chat: 'control room', text: 'hello bob', wait: 10 }, { onEvent: (e, d) => events.push([e, d]) });
      expect(sent.delivered).to.deep.equal(['bob@test.local']);
      expect(sent.pending).to.deep.equal([]);
      expect(events.map(([e]) => e)).to.deep.equal(['sent', 'delivery']);
      expect(events[1]![1]).to.deep.equal({ recipient: 'bob@test.local' });
      await waitFor(() => received.includes('hello bob'), 'bob received the message');

      const history = await client.call<{ messages: MessageJson[] }>('chat.history', { chat: joined.chatId, limit: 5 });
      expect(history.messages[0]!.text).to.equal('hello bob');
      expect(history.messages[0]!.id).to.equal(sent.message.id).and.match(/^[0-9a-f]{32}$/);

      const members = await client.call<Array<{ identity: string; online: boolean }>>('chat.members', { chat: 'Control Room' });
      expect(members.find((m) => m.identity === 'bob@test.local')?.online).to.equal(true);

      const found = await client.call<{ hits: MessageJson[] }>('chat.search', { query: 'hello' });
      expect(found.hits.map((m) => m.text)).to.include('hello bob');

      const status = await client.call<NodeStatusJson>('node.status');
      expect(status.chats.find((c) => c.name === 'Control Room')?.mesh).to.equal('full');
    });

    it('streams a watched chat until the request is cancelled', async () => {
      const chatId = net.peers[0]!.chat.list().find((c) => c.name === 'Control Room')!.chatId;
      const texts: string[] = [];
      const controller = new AbortController();
      const watching = client.call('chat.watch', { chat: chatId }, { signal: controller.signal, onEvent: (e, d) => e === 'message' && texts.push((d as MessageJson).text ?? '') });
      // The watch is registered once a request sent after it is answered (one connection, in order).
      await client.call('node.status');
      const bobChat = net.peers[1]!.chat.list().find((c) => c.name === 'Control Room')!.chatId;
      net.peers[1]!.chat.send(bobChat, 'hi alice');
      await waitFor(() => texts.includes('hi alice'), 'the watch streamed bob\'s message');
      controller.abort();
      const err = await watching.then(() => undefined, (e: unknown) => e);
      expect(hasCode(err, ControlErrorCode.CANCELLED)).to.equal(true);
    });

    it('answers errors with typed codes on the wire and keeps the connection', async () => {
      const unknownChat = await client.call('chat.history', { chat: 'no such chat' }).catch((e: unknown) => e);
      expect(hasCode(unknownChat, 'ERR_NODE_UNKNOWN_CHAT')).to.equal(true);
      const badParams = await client.call('chat.send', { chat: 'Control Room' }).catch((e: unknown) => e);
      expect(hasCode(badParams, ControlErrorCode.BAD_PARAMS)).to.equal(true);
      expect((badParams as Error).message).to.contain('missing key "params.text"');
      const unknownMethod = await client.call('chat.frobnicate').catch((e: unknown) => e);
      expect(hasCode(unknownMethod, ControlErrorCode.UNKNOWN_METHOD)).to.equal(true);
      expect((await client.call<NodeStatusJson>('node.status')).protocol).to.equal(1);
    });

    it('carries a text at the chat\'s cap (escaped lines included) and passes the chat\'s refusal of a longer one', async () => {
      const atCap = '\n'.repeat(MAX_TEXT_BYTES);
      const sent = await client.call<SendResultJson>('chat.send', { chat: 'Control Room', text: atCap });
      expect(sent.message.text).to.equal(atCap);
      const tooLong = await client.call('chat.send', { chat: 'Control Room', text: 'x'.repeat(MAX_TEXT_BYTES + 1) }).catch((e: unknown) => e);
      expect(hasCode(tooLong, 'ERR_CHAT_TOO_LARGE'), String(tooLong)).to.equal(true);
    });

    it('refuses malformed request lines one by one, each answered with the id when readable', async () => {
      const lines = [
        'not json',
        '[1,2]',
        '{"id":-1,"method":"node.status"}',
        '{"id":"x","method":"Node.Status"}',
        '{"id":7,"method":"node.status","params":[]}',
        '{"id":8,"method":"node.status","extra":1}',
        '{"id":9,"method":"node.status","params":{"x":1}}',
        '{"id":10,"method":"node.status"}',
      ];
      const { lines: replies, closed } = await rawExchange(path, lines.join('\n') + '\n', lines.length);
      expect(closed).to.equal(false);
      expect(replies.map((r) => r['error']?.code ?? 'ok')).to.deep.equal([
        'ERR_CONTROL_BAD_REQUEST',
        'ERR_CONTROL_BAD_REQUEST',
        'ERR_CONTROL_BAD_REQUEST',
        'ERR_CONTROL_BAD_REQUEST',
        'ERR_CONTROL_BAD_REQUEST',
        'ERR_CONTROL_BAD_REQUEST',
        'ERR_CONTROL_BAD_PARAMS',
        'ok',
      ]);
      expect(replies.map((r) => r['id'])).to.deep.equal([null, null, null, 'x', 7, 8, 9, 10]);
    });

    it('answers a duplicate id in flight and a cancel of an unknown id', async () => {
      const lines = ['{"id":"w","method":"chat.watch"}', '{"id":"w","method":"node.status"}', '{"id":"c","method":"control.cancel","params":{"id":"nope"}}', '{"id":"c2","method":"control.cancel","params":{"id":"w"}}'];
      const { lines: replies } = await rawExchange(path, lines.join('\n') + '\n', 4);
      const byId = (id: string): Array<Record<string, any>> => replies.filter((r) => r['id'] === id);
      expect(byId('w').map((r) => r['error']?.code)).to.deep.equal(['ERR_CONTROL_DUPLICATE_ID', 'ERR_CONTROL_CANCELLED']);
      expect(byId('c')[0]!['result']).to.deep.equal({ cancelled: false });
      expect(byId('c2')[0]!['result']).to.deep.equal({ cancelled: true });
    });

    it('closes a connection that sends a line above the cap, after saying why', async () => {
      const { lines, closed } = await rawExchange(path, Buffer.alloc(MAX_REQUEST_BYTES + 10, 0x61), 1);
      expect(lines[0]!['error'].code).to.equal('ERR_CONTROL_TOO_LARGE');
      await waitFor(() => closed || lines.length > 0, 'the close');
      // The node still answers others.
      expect((await client.call<NodeStatusJson>('node.status')).port).to.be.a('number');
    });

    it('answers a client that ends its side right after the request (nc -U style)', async () => {
      const socket: Socket = connect({ path });
      let text = '';
      socket.on('data', (c) => (text += c));
      const closed = new Promise((resolve) => socket.on('close', resolve));
      socket.end('{"id":1,"method":"chat.list"}\n');
      await closed;
      const reply = JSON.parse(text.trim());
      expect(reply.id).to.equal(1);
      expect(reply.result.map((c: ChatJson) => c.name)).to.include('Control Room');
    });
  });

  describe('caps, plugins and the socket file', () => {
    let temp: ReturnType<typeof makeTempDir>;
    let kernel: Kernel | undefined;
    beforeEach(() => (temp = makeTempDir('bitchat-control-')));
    afterEach(async () => {
      await kernel?.stop();
      kernel = undefined;
      temp.cleanup();
    });

    /** A plugin with a method that blocks until cancelled, and one that echoes. */
    const blockingPlugin = {
      definition: {
        name: 'control-test',
        version: '1.0.0',
        apply: (api: PluginApi) => {
          api.hooks.controlMethods.tap('control-test', (registry) => {
            registry.add<{ say: string }>('echo.say', {
              description: 'Echo',
              paramsSchema: { type: 'object', properties: { say: { type: 'string', maxLength: 100 } }, required: ['say'], additionalProperties: false },
              handler: ({ say }) => ({ said: say, bytes: Buffer.from(say) }),
            });
            registry.add('echo.block', {
              description: 'Blocks until cancelled',
              handler: (_p, context) => new Promise((resolve) => context.signal.addEventListener('abort', () => resolve(null))),
            });
          });
        },
      },
    };

    it('plugins add methods through hooks.controlMethods; results carry Buffers as hex', async () => {
      kernel = await createTestKernel(testConfig(temp.path, { profile: null }), [blockingPlugin]);
      await kernel.start();
      const client = (await ControlClient.connect(controlSocketPath(temp.path)))!;
      try {
        expect(await client.call('echo.say', { say: 'hi' })).to.deep.equal({ said: 'hi', bytes: '6869' });
        const methods = await client.call<Array<{ name: string }>>('control.methods');
        expect(methods.map((m) => m.name)).to.include.members(['echo.say', 'echo.block', 'chat.send', 'node.status']);
        // No profile: chat methods say so.
        const err = await client.call('chat.list').catch((e: unknown) => e);
        expect(hasCode(err, 'ERR_NODE_NO_PROFILE')).to.equal(true);
      } finally {
        client.close();
      }
    });

    it('a plugin registering a malformed or reserved method name fails the start, naming the plugin', async () => {
      for (const name of ['Bad Name', 'control.mine', 'node.status']) {
        const bad = { definition: { name: 'bad-control', version: '1.0.0', apply: (api: PluginApi) => api.hooks.controlMethods.tap('x', (r) => r.add(name, { description: '', handler: () => null })) } };
        const k = await createTestKernel(testConfig(temp.path, { profile: null }), [bad]);
        const err = await k.start().then(() => undefined, (e: unknown) => e);
        expect(hasCode(err, 'ERR_PLUGIN_HOOK_FAILED'), String(err)).to.equal(true);
        expect((err as Error).message).to.contain('bad-control').and.contain('controlMethods');
        expect(existsSync(controlSocketPath(temp.path))).to.equal(false);
      }
    });

    it('caps requests in flight per connection and connections per node; cancel frees a slot', async () => {
      kernel = await createTestKernel(testConfig(temp.path, { profile: null }), [blockingPlugin]);
      await kernel.start();
      const path = controlSocketPath(temp.path);
      const client = (await ControlClient.connect(path))!;
      const others: ControlClient[] = [];
      try {
        const controllers = Array.from({ length: 32 }, () => new AbortController());
        const blocked = controllers.map((c) => client.call('echo.block', {}, { signal: c.signal }).catch((e: unknown) => e));
        const busy = await client.call('echo.say', { say: 'x' }).catch((e: unknown) => e);
        expect(hasCode(busy, ControlErrorCode.BUSY)).to.equal(true);
        for (const c of controllers) c.abort();
        for (const err of await Promise.all(blocked)) expect(hasCode(err, ControlErrorCode.CANCELLED)).to.equal(true);
        expect(await client.call('echo.say', { say: 'x' })).to.deep.include({ said: 'x' });

        for (let i = 0; i < 15; i++) others.push((await ControlClient.connect(path))!);
        await others[14]!.call('node.status');
        const refused = (await ControlClient.connect(path))!;
        const err = await refused.call('node.status').catch((e: unknown) => e);
        refused.close();
        expect(hasCode(err, ControlErrorCode.BUSY)).to.equal(true);
        expect(kernel.controlServer!.stats.refusedConnections).to.equal(1);
      } finally {
        client.close();
        for (const o of others) o.close();
      }
    });

    it('cuts off a client that lets streamed events pile up unread', async () => {
      const methods = new ControlMethods();
      let emitted = 0;
      methods.add('flood.events', {
        description: 'Streams events until cancelled',
        handler: (_p, context) =>
          new Promise((resolve) => {
            const chunk = 'x'.repeat(16 * 1024);
            const timer = setInterval(() => {
              for (let i = 0; i < 16 && emitted < 10_000; i++, emitted++) context.emit('data', chunk);
            }, 1);
            context.signal.addEventListener('abort', () => {
              clearInterval(timer);
              resolve(null);
            });
          }),
      });
      const server = new ControlServer({ path: controlSocketPath(temp.path), methods, logger: createLogger('silent'), maxQueuedBytes: 256 * 1024 });
      await server.start();
      const socket = connect({ path: server.path });
      try {
        socket.on('error', () => undefined);
        // Never read (no 'data' listener): the node's queue to us grows until the cap.
        socket.write('{"id":1,"method":"flood.events"}\n');
        await waitFor(() => server.stats.slowClients === 1, 'the node to cut the client off');
        await waitFor(() => server.openConnections === 0, 'the connection to close');
        expect(emitted, 'cut off long before the flood ran out').to.be.below(10_000);
      } finally {
        socket.destroy();
        await server.stop();
      }
    });

    it('replaces a stale socket left by a killed process, and keeps a live one', async () => {
      const path = controlSocketPath(temp.path);
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      // A process that listens on the path and dies without cleaning up: the socket file stays.
      const child = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
      await new Promise((resolve) => child.on('close', resolve));
      expect(statSync(path).isSocket()).to.equal(true);
      kernel = await createTestKernel(testConfig(temp.path, { profile: null }));
      await kernel.start();
      expect(kernel.controlServer?.listening).to.equal(true);
      const client = (await ControlClient.connect(path))!;
      expect((await client.call<NodeStatusJson>('node.status')).pid).to.equal(process.pid);
      client.close();
      await kernel.stop();
      kernel = undefined;
      expect(existsSync(path), 'the socket is removed on stop').to.equal(false);

      // Someone answers on the path: it is not stale, the node leaves it alone (and runs without a control socket).
      const live = createServer().listen(path);
      await new Promise((resolve) => live.once('listening', resolve));
      try {
        kernel = await createTestKernel(testConfig(temp.path, { profile: null }));
        await kernel.start();
        expect(kernel.controlServer).to.equal(undefined);
        expect(statSync(path).isSocket()).to.equal(true);
      } finally {
        await kernel?.stop();
        kernel = undefined;
        await new Promise((resolve) => live.close(resolve));
      }
    });

    it('never removes a file that is not a socket, and keeps the folder private', async () => {
      const path = controlSocketPath(temp.path);
      mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
      writeFileSync(path, 'precious');
      kernel = await createTestKernel(testConfig(temp.path, { profile: null }));
      await kernel.start();
      expect(kernel.controlServer).to.equal(undefined);
      expect(readFileSync(path, 'utf8')).to.equal('precious');
      expect(statSync(dirname(path)).mode & 0o777).to.equal(0o700);
      expect(await ControlClient.connect(path)).to.equal(undefined);
    });

    it('the CLI finds no node where none runs (no socket), and the option turns the socket off', async () => {
      expect(await ControlClient.connect(controlSocketPath(temp.path))).to.equal(undefined);
      kernel = await createTestKernel(testConfig(temp.path, { profile: null }), [], { control: false });
      await kernel.start();
      expect(existsSync(controlSocketPath(temp.path))).to.equal(false);
      expect(kernel.controlMethods?.has('chat.send')).to.equal(true);
    });
  });
});
