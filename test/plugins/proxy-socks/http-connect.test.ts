import { expect } from 'chai';
import { PROXY_ERROR_CODES, ProxyError } from '../../../plugins/proxy-socks/errors.js';
import { freePort, skipWithout, startEchoServer, startTinyproxy, type RunningProxy, type TestServer } from '../../helpers/proxy-servers.js';
import { runDialerCompliance } from './dialer-compliance.js';
import { assertEchoes, closeSocket, dialerFor, expectCode } from './support.js';

runDialerCompliance({
  name: 'HTTP CONNECT (tinyproxy)',
  binary: 'tinyproxy',
  skip: (ctx) => skipWithout(ctx, 'tinyproxy'),
  start: () => startTinyproxy(),
  // tinyproxy logs the request line it received.
  hostnameProof: (port) => `CONNECT localhost:${port} HTTP/1.1`,
  // A SOCKS5 method selection where an HTTP status line belongs.
  garbage: Buffer.from([0x05, 0x00, 0x05, 0x00, 0x00, 0x01, 127, 0, 0, 1, 0, 80]),
});

describe('HTTP CONNECT (tinyproxy): refusals', function () {
  let proxy: RunningProxy | undefined;
  let echo: TestServer | undefined;
  let allowedPort = 0;

  before(async function () {
    skipWithout(this, 'tinyproxy');
    echo = await startEchoServer();
    allowedPort = echo.port;
    proxy = await startTinyproxy({ connectPorts: [allowedPort] });
  });
  after(async () => {
    await echo?.stop();
    await proxy?.stop();
  });

  it('still tunnels to an allowed port', async () => {
    const socket = await dialerFor(proxy!).connect({ host: '127.0.0.1', port: allowedPort }, { timeoutMs: 5000 });
    try {
      await assertEchoes(socket, 100);
    } finally {
      await closeSocket(socket);
    }
  });

  it('maps a forbidden port (HTTP 403) to ERR_PROXY_FORBIDDEN', async () => {
    const otherPort = await freePort();
    const err = await expectCode(dialerFor(proxy!).connect({ host: '127.0.0.1', port: otherPort }, { timeoutMs: 5000 }), PROXY_ERROR_CODES.FORBIDDEN);
    expect((err as ProxyError).httpStatus).to.equal(403);
  });
});

describe('HTTP CONNECT (tinyproxy): unreachable target', function () {
  let proxy: RunningProxy | undefined;
  before(async function () {
    skipWithout(this, 'tinyproxy');
    proxy = await startTinyproxy();
  });
  after(async () => {
    await proxy?.stop();
  });

  it('fails with a typed error carrying the HTTP status when the target refuses', async () => {
    const closedPort = await freePort();
    try {
      await dialerFor(proxy!).connect({ host: '127.0.0.1', port: closedPort }, { timeoutMs: 5000 });
      expect.fail('connected to a closed port');
    } catch (err) {
      expect(err).to.be.instanceOf(ProxyError);
      expect([PROXY_ERROR_CODES.TARGET_UNREACHABLE, PROXY_ERROR_CODES.REFUSED]).to.include((err as ProxyError).code);
      expect((err as ProxyError).httpStatus).to.be.a('number');
    }
  });
});

describe('HTTP CONNECT (tinyproxy): Basic auth', function () {
  const credentials = { username: 'alice', password: 'c0rrect-h0rse' };
  let proxy: RunningProxy | undefined;
  let echo: TestServer | undefined;

  before(async function () {
    skipWithout(this, 'tinyproxy');
    echo = await startEchoServer();
    proxy = await startTinyproxy({ auth: credentials });
  });
  after(async () => {
    await echo?.stop();
    await proxy?.stop();
  });

  it('opens a tunnel with the right credentials', async () => {
    const socket = await dialerFor(proxy!).connect({ host: 'localhost', port: echo!.port }, { timeoutMs: 5000 });
    try {
      await assertEchoes(socket, 4096);
    } finally {
      await closeSocket(socket);
    }
  });

  it('fails with ERR_PROXY_AUTH_FAILED for a wrong password', async () => {
    const err = await expectCode(dialerFor({ ...proxy!, password: 'wrong' }).connect({ host: '127.0.0.1', port: echo!.port }, { timeoutMs: 5000 }), PROXY_ERROR_CODES.AUTH_FAILED);
    // tinyproxy answers 401 here, not 407.
    expect([401, 407]).to.include((err as ProxyError).httpStatus);
  });

  it('fails with ERR_PROXY_AUTH_REQUIRED (407) without credentials', async () => {
    const { username: _u, password: _p, ...anonymous } = proxy!;
    await expectCode(dialerFor(anonymous).connect({ host: '127.0.0.1', port: echo!.port }, { timeoutMs: 5000 }), PROXY_ERROR_CODES.AUTH_REQUIRED);
  });
});
