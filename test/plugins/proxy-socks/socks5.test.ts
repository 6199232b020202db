import { expect } from 'chai';
import { PROXY_ERROR_CODES, ProxyError } from '../../../plugins/proxy-socks/errors.js';
import {
  canTestDanteAuth,
  freePort,
  skipWithout,
  startDante,
  startEchoServer,
  type RunningProxy,
  type TestServer,
} from '../../helpers/proxy-servers.js';
import { runDialerCompliance } from './dialer-compliance.js';
import { assertEchoes, closeSocket, dialerFor, expectCode } from './support.js';

runDialerCompliance({
  name: 'SOCKS5 (dante)',
  binary: 'danted',
  skip: (ctx) => skipWithout(ctx, 'danted'),
  start: () => startDante({ debug: true }),
  // dante at debug 1 prints the request: address type 3 is a domain name.
  hostnameProof: (port) => `ATYP: 3 address: localhost.${port}`,
  // An HTTP answer where a SOCKS5 method selection belongs.
  garbage: Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'),
});

describe('SOCKS5 (dante): refusals', function () {
  let proxy: RunningProxy | undefined;
  let echo: TestServer | undefined;
  let blockedPort = 0;

  before(async function () {
    skipWithout(this, 'danted');
    echo = await startEchoServer();
    blockedPort = await freePort();
    proxy = await startDante({ blockPorts: [blockedPort] });
  });
  after(async () => {
    await echo?.stop();
    await proxy?.stop();
  });

  it('maps "connection refused by the target" to ERR_PROXY_TARGET_UNREACHABLE, reply 5', async () => {
    const closedPort = await freePort();
    const err = await expectCode(dialerFor(proxy!).connect({ host: '127.0.0.1', port: closedPort }, { timeoutMs: 5000 }), PROXY_ERROR_CODES.TARGET_UNREACHABLE);
    expect((err as ProxyError).socksReply).to.equal(5);
  });

  it('maps a ruleset block to ERR_PROXY_FORBIDDEN, reply 2', async () => {
    const err = await expectCode(dialerFor(proxy!).connect({ host: '127.0.0.1', port: blockedPort }, { timeoutMs: 5000 }), PROXY_ERROR_CODES.FORBIDDEN);
    expect((err as ProxyError).socksReply).to.equal(2);
  });
});

describe('SOCKS5 (dante): username/password (RFC 1929)', function () {
  let proxy: RunningProxy | undefined;
  let echo: TestServer | undefined;

  before(async function () {
    skipWithout(this, 'danted');
    if (!canTestDanteAuth()) {
      // eslint-disable-next-line no-console
      console.log('      skipped: dante authenticates system users; needs root with useradd/chpasswd');
      this.skip();
    }
    echo = await startEchoServer();
    proxy = await startDante({ auth: true });
  });
  after(async () => {
    await echo?.stop();
    await proxy?.stop();
  });

  it('opens a tunnel with the right credentials', async () => {
    const socket = await dialerFor(proxy!).connect({ host: '127.0.0.1', port: echo!.port }, { timeoutMs: 5000 });
    try {
      await assertEchoes(socket, 4096);
    } finally {
      await closeSocket(socket);
    }
  });

  it('fails with ERR_PROXY_AUTH_FAILED for a wrong password', async () => {
    await expectCode(dialerFor({ ...proxy!, password: 'not-the-password' }).connect({ host: '127.0.0.1', port: echo!.port }, { timeoutMs: 5000 }), PROXY_ERROR_CODES.AUTH_FAILED);
  });

  it('fails with ERR_PROXY_AUTH_REQUIRED when no credentials are configured', async () => {
    const { username: _u, password: _p, ...anonymous } = proxy!;
    await expectCode(dialerFor(anonymous).connect({ host: '127.0.0.1', port: echo!.port }, { timeoutMs: 5000 }), PROXY_ERROR_CODES.AUTH_REQUIRED);
  });
});
