/**
 * The plugin loaded by the real kernel from a config, dialing through
 * `hooks.dial` and using the `proxy` and `networkPolicy` services.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import { expect } from 'chai';
import { pino } from 'pino';
import { BitChatError, PluginError } from '../../../core/errors.js';
import type { Kernel } from '../../../core/kernel.js';
import { definePlugin } from '../../../core/plugin.js';
import type { Endpoint, PeerStream } from '../../../core/types.js';
import { PROXY_ERROR_CODES, type NetworkPolicy, type ProxyService } from '../../../plugins/proxy-socks/index.js';
import { createTestKernel, testConfig } from '../../helpers/kernel.js';
import {
  canTestDanteAuth,
  DANTED_PATH,
  freePort,
  skipWithout,
  startDante,
  startEchoServer,
  startTinyproxy,
  TINYPROXY_PATH,
  type RunningProxy,
  type TestServer,
} from '../../helpers/proxy-servers.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { assertEchoes, closeSocket } from './support.js';

/** Stands in for core's direct TCP dial (tapped last): counts how often it is reached. */
function directDialCounter(): { calls: number; plugin: ReturnType<typeof definePlugin> } {
  const state = { calls: 0, plugin: undefined as unknown as ReturnType<typeof definePlugin> };
  state.plugin = definePlugin({
    name: 'direct-dial-counter',
    version: '1.0.0',
    apply(api) {
      api.hooks.dial.tapPromise({ name: 'direct-dial-counter', stage: 100 }, async () => {
        state.calls += 1;
        return undefined;
      });
    },
  });
  return state;
}

function proxyOptions(proxy: RunningProxy, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: proxy.type,
    host: proxy.host,
    port: proxy.port,
    ...(proxy.username !== undefined ? { username: proxy.username, password: proxy.password } : {}),
    ...extra,
  };
}

async function dialThrough(kernel: Kernel, endpoint: Endpoint): Promise<PeerStream> {
  const stream = await kernel.hooks.dial.promise({ endpoint, timeoutMs: 5000 });
  expect(stream, 'a dial tap returned a stream').to.not.equal(undefined);
  return stream as PeerStream;
}

function startHttpServer(): Promise<{ server: Server; port: number; stop(): Promise<void> }> {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`you asked for ${req.url} via ${req.headers.host}`);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ server, port, stop: () => new Promise<void>((done) => { server.closeAllConnections(); server.close(() => done()); }) });
    });
  });
}

describe('proxy-socks plugin in a kernel', function () {
  let temp: ReturnType<typeof makeTempDir>;
  let echo: TestServer;
  let dante: RunningProxy | undefined;
  let tiny: RunningProxy | undefined;
  let web: Awaited<ReturnType<typeof startHttpServer>>;
  const kernels: Kernel[] = [];

  const makeKernel = async (options: Record<string, unknown>, extraPlugins: ReturnType<typeof definePlugin>[] = [], logger?: pino.Logger): Promise<Kernel> => {
    const kernel = await createTestKernel(
      testConfig(temp.path, { plugins: { 'proxy-socks': options } }),
      extraPlugins.map((definition) => ({ definition })),
      logger ? { logger } : {},
    );
    kernels.push(kernel);
    await kernel.start();
    return kernel;
  };

  before(async function () {
    if (DANTED_PATH === undefined && TINYPROXY_PATH === undefined) skipWithout(this, 'danted');
    echo = await startEchoServer();
    web = await startHttpServer();
    if (DANTED_PATH) dante = await startDante();
    if (TINYPROXY_PATH) tiny = await startTinyproxy();
  });
  after(async () => {
    await echo?.stop();
    await web?.stop();
    await dante?.stop();
    await tiny?.stop();
  });
  beforeEach(() => (temp = makeTempDir()));
  afterEach(async () => {
    for (const kernel of kernels.splice(0)) await kernel.stop().catch(() => {});
    temp.cleanup();
  });

  for (const kind of ['socks5', 'http'] as const) {
    describe(kind === 'socks5' ? 'through dante' : 'through tinyproxy', function () {
      let proxy: RunningProxy;
      before(function () {
        const running = kind === 'socks5' ? dante : tiny;
        if (running === undefined) skipWithout(this, kind === 'socks5' ? 'danted' : 'tinyproxy');
        proxy = running as RunningProxy;
      });

      it('wins hooks.dial: bytes flow through the proxy, the direct dial is never reached', async () => {
        const direct = directDialCounter();
        const kernel = await makeKernel(proxyOptions(proxy), [direct.plugin]);
        const stream = await dialThrough(kernel, { host: 'localhost', port: echo.port });
        try {
          await assertEchoes(stream, 10_000);
        } finally {
          await closeSocket(stream);
        }
        expect(direct.calls).to.equal(0);
        expect(kernel.resolve<ProxyService>('proxy').stats.connects).to.equal(1);
      });

      it('fails the dial with the typed proxy error and never falls through to direct', async () => {
        const direct = directDialCounter();
        const kernel = await makeKernel({ ...proxyOptions(proxy), port: await freePort() }, [direct.plugin]);
        try {
          await kernel.hooks.dial.promise({ endpoint: { host: '127.0.0.1', port: echo.port }, timeoutMs: 5000 });
          expect.fail('dialed although the proxy is down');
        } catch (err) {
          expect(err).to.be.instanceOf(PluginError);
          expect((err as PluginError).plugin).to.equal('proxy-socks');
          expect(((err as PluginError).cause as BitChatError).code).to.equal(PROXY_ERROR_CODES.UNREACHABLE);
        }
        expect(direct.calls).to.equal(0);
        const service = kernel.resolve<ProxyService>('proxy');
        await expectFetchCode(service.fetch(`http://localhost:${web.port}/`, { timeoutMs: 5000 }), PROXY_ERROR_CODES.UNREACHABLE);
      });

      it('offers fetch and an http.Agent that go through the proxy', async () => {
        const kernel = await makeKernel(proxyOptions(proxy));
        const service = kernel.resolve<ProxyService>('proxy');
        const response = await service.fetch(`http://localhost:${web.port}/announce?x=1`, { timeoutMs: 5000 });
        expect(response.status).to.equal(200);
        expect(response.body.toString()).to.equal(`you asked for /announce?x=1 via localhost:${web.port}`);
        expect(service.stats.connects).to.equal(1);
        await expectFetchCode(service.fetch(`http://localhost:${web.port}/`, { maxBodyBytes: 4, timeoutMs: 5000 }), PROXY_ERROR_CODES.FETCH_FAILED);
        await expectFetchCode(service.fetch('ftp://localhost/'), PROXY_ERROR_CODES.BAD_TARGET);
      });
    });
  }

  it('registers a Tor-mode policy that forbids UDP, LAN, listening and DNS', async function () {
    if (dante === undefined) skipWithout(this, 'danted');
    const kernel = await makeKernel({ tor: true, host: '127.0.0.1', port: dante!.port });
    const policy = kernel.resolve<NetworkPolicy>('networkPolicy');
    expect(policy).to.deep.equal({ mode: 'tor', allowDirectTcp: false, allowUdp: false, allowLan: false, allowListen: false, allowDns: false });
    expect(Object.isFrozen(policy)).to.equal(true);
    expect(kernel.resolve<ProxyService>('proxy').mode).to.equal('tor');
    const stream = await dialThrough(kernel, { host: 'localhost', port: echo.port });
    await assertEchoes(stream, 100);
    await closeSocket(stream);
  });

  it('keeps the listener in Tor mode only when asked', async () => {
    const kernel = await makeKernel({ tor: true, listen: true });
    expect(kernel.resolve<NetworkPolicy>('networkPolicy')).to.include({ mode: 'tor', allowListen: true, allowUdp: false });
  });

  it('registers a plain-proxy policy that only forbids direct TCP', async () => {
    const kernel = await makeKernel({ type: 'http', port: 3128 });
    expect(kernel.resolve<NetworkPolicy>('networkPolicy')).to.deep.equal({
      mode: 'proxy', allowDirectTcp: false, allowUdp: true, allowLan: true, allowListen: true, allowDns: true,
    });
  });

  it('refuses a proxy host name in Tor mode (it would need a DNS lookup)', async () => {
    try {
      await makeKernel({ tor: true, host: 'localhost' });
      expect.fail('accepted a host name in Tor mode');
    } catch (err) {
      expect(err).to.be.instanceOf(BitChatError);
      expect(codeOf(err)).to.equal(PROXY_ERROR_CODES.BAD_OPTIONS);
      expect((err as Error).message).to.match(/IP literal/);
    }
  });

  it('rejects options the schema does not allow', async () => {
    for (const bad of [{ type: 'ftp' }, { port: 0 }, { colour: 'red' }, { username: 'a:b', password: 'x', type: 'http' }]) {
      try {
        await makeKernel(bad);
        expect.fail(`accepted ${JSON.stringify(bad)}`);
      } catch (err) {
        expect(err, JSON.stringify(bad)).to.be.instanceOf(BitChatError);
      }
    }
  });

  describe('credentials never reach the logs', function () {
    const secret = 'Sup3r-S3cret-Pw';
    let authTiny: RunningProxy | undefined;
    let authDante: RunningProxy | undefined;
    before(async function () {
      if (TINYPROXY_PATH) authTiny = await startTinyproxy({ auth: { username: 'bob', password: secret } });
      if (DANTED_PATH && canTestDanteAuth()) authDante = await startDante({ auth: true });
    });
    after(async () => {
      await authTiny?.stop();
      await authDante?.stop();
    });

    it('logs dials, failures and errors at trace level without the password or its Basic token', async function () {
      if (authTiny === undefined && authDante === undefined) this.skip();
      let captured = '';
      const sink = new Writable({
        write(chunk: Buffer, _encoding, callback) {
          captured += chunk.toString();
          callback();
        },
      });
      const logger = pino({ level: 'trace' }, sink);
      const secrets: string[] = [];
      for (const proxy of [authTiny, authDante]) {
        if (proxy === undefined) continue;
        const password = proxy.password as string;
        secrets.push(password, Buffer.from(`${proxy.username}:${password}`).toString('base64'));
        for (const options of [proxyOptions(proxy), { ...proxyOptions(proxy), password: `${password}-wrong` }]) {
          secrets.push(options.password as string);
          const kernel = await makeKernel({ ...options, connectTimeoutMs: 5000 }, [], logger);
          try {
            const stream = await dialThrough(kernel, { host: '127.0.0.1', port: echo.port });
            await closeSocket(stream);
          } catch (err) {
            // What a careless caller would do with the error: log it whole, print it.
            logger.error({ err }, 'dial failed');
            captured += inspect(err, { depth: 10 }) + JSON.stringify(err);
          }
          await kernel.stop();
        }
      }
      expect(captured).to.include('proxy tunnel failed');
      expect(captured).to.include('proxy tunnel open');
      for (const secret of new Set(secrets)) expect(captured).to.not.include(secret);
    });
  });
});

/**
 * The kernel passes a plugin's BitChatError through, but under mocha the test
 * tree is loaded as CommonJS and the plugin as ESM, so `instanceof` fails and
 * the kernel wraps it (ERR_PLUGIN_APPLY_FAILED); read the code either way.
 */
function codeOf(err: unknown): string | undefined {
  const outer = err as BitChatError;
  if (outer.code === 'ERR_PLUGIN_APPLY_FAILED') return (outer.cause as BitChatError | undefined)?.code;
  return outer.code;
}

async function expectFetchCode(promise: Promise<unknown>, code: string): Promise<void> {
  try {
    await promise;
  } catch (err) {
    expect((err as BitChatError).code, String(err)).to.equal(code);
    return;
  }
  expect.fail(`expected ${code}`);
}
