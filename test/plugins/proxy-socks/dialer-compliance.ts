/**
 * The tests every proxy dialer must pass, run against a real proxy server:
 * bytes both ways, large transfers intact, early target bytes kept for a late
 * reader, host names resolved by the proxy, and typed failures for a proxy
 * that is down, silent, aborted, or speaks garbage.
 */
import { expect } from 'chai';
import { PROXY_ERROR_CODES } from '../../../plugins/proxy-socks/errors.js';
import {
  freePort,
  startEchoServer,
  startFixedReplyServer,
  startSilentServer,
  type RunningProxy,
  type TestServer,
} from '../../helpers/proxy-servers.js';
import { assertEchoes, closeSocket, dialerFor, expectCode, readExactly } from './support.js';

export interface ComplianceTarget {
  name: string;
  binary: 'danted' | 'tinyproxy';
  skip(ctx: Mocha.Context): void;
  start(): Promise<RunningProxy>;
  /** What the proxy logs when it receives the name `localhost` for `port`. */
  hostnameProof(port: number): string;
  /** Bytes a broken proxy of this kind might send. */
  garbage: Buffer;
}

export function runDialerCompliance(target: ComplianceTarget): void {
  describe(`${target.name}: dialer compliance`, function () {
    let proxy: RunningProxy | undefined;
    let echo: TestServer | undefined;
    let greeter: TestServer | undefined;
    const greeting = Buffer.from('HELLO-FROM-TARGET\n');

    before(async function () {
      target.skip(this);
      proxy = await target.start();
      echo = await startEchoServer();
      greeter = await startEchoServer(greeting);
    });
    after(async () => {
      await echo?.stop();
      await greeter?.stop();
      await proxy?.stop();
    });

    it('carries bytes both ways to an IP literal', async () => {
      const dialer = dialerFor(proxy!);
      const socket = await dialer.connect({ host: '127.0.0.1', port: echo!.port }, { timeoutMs: 5000 });
      try {
        await assertEchoes(socket, 1024);
        await assertEchoes(socket, 7);
      } finally {
        await closeSocket(socket);
      }
      expect(dialer.stats.connects).to.equal(1);
      expect(dialer.stats.open).to.equal(0);
      expect(dialer.stats.bytesWritten).to.be.greaterThan(1031);
    });

    it('sends a host name to the proxy, which resolves it', async () => {
      const dialer = dialerFor(proxy!);
      const socket = await dialer.connect({ host: 'localhost', port: echo!.port }, { timeoutMs: 5000 });
      try {
        await assertEchoes(socket, 300);
      } finally {
        await closeSocket(socket);
      }
      // The proxy's own log shows the name arrived as a name (so nothing resolved it here).
      expect(proxy!.log()).to.include(target.hostnameProof(echo!.port));
    });

    it('keeps 4 MiB intact through the tunnel', async () => {
      const socket = await dialerFor(proxy!).connect({ host: '127.0.0.1', port: echo!.port }, { timeoutMs: 5000 });
      try {
        await assertEchoes(socket, 4 * 1024 * 1024);
      } finally {
        await closeSocket(socket);
      }
    });

    it('keeps bytes the target sends at once for a reader that attaches late', async () => {
      const socket = await dialerFor(proxy!).connect({ host: '127.0.0.1', port: greeter!.port }, { timeoutMs: 5000 });
      try {
        // Let the greeting arrive before anyone listens.
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(Buffer.compare(await readExactly(socket, greeting.length), greeting)).to.equal(0);
        await assertEchoes(socket, 64);
      } finally {
        await closeSocket(socket);
      }
    });

    it('opens many tunnels at once', async () => {
      const dialer = dialerFor(proxy!);
      const sockets = await Promise.all(Array.from({ length: 8 }, () => dialer.connect({ host: '127.0.0.1', port: echo!.port }, { timeoutMs: 5000 })));
      try {
        await Promise.all(sockets.map((socket) => assertEchoes(socket, 2048)));
      } finally {
        await Promise.all(sockets.map(closeSocket));
      }
      expect(dialer.stats.connects).to.equal(8);
    });

    it('fails with ERR_PROXY_UNREACHABLE when the proxy is down', async () => {
      const port = await freePort();
      const dialer = dialerFor({ ...proxy!, port });
      await expectCode(dialer.connect({ host: '127.0.0.1', port: echo!.port }, { timeoutMs: 5000 }), PROXY_ERROR_CODES.UNREACHABLE);
      expect(dialer.stats.failures).to.equal(1);
      expect(dialer.stats.failuresByCode[PROXY_ERROR_CODES.UNREACHABLE]).to.equal(1);
    });

    it('fails with ERR_PROXY_TIMEOUT when the proxy never answers', async () => {
      const silent = await startSilentServer();
      try {
        const dialer = dialerFor({ ...proxy!, port: silent.port });
        await expectCode(dialer.connect({ host: '127.0.0.1', port: echo!.port }, { timeoutMs: 150 }), PROXY_ERROR_CODES.TIMEOUT);
      } finally {
        await silent.stop();
      }
    });

    it('fails with ERR_PROXY_ABORTED when the caller aborts mid-negotiation', async () => {
      const silent = await startSilentServer();
      try {
        const controller = new AbortController();
        const dialing = dialerFor({ ...proxy!, port: silent.port }).connect({ host: '127.0.0.1', port: echo!.port }, { timeoutMs: 5000, signal: controller.signal });
        setTimeout(() => controller.abort(), 50);
        await expectCode(dialing, PROXY_ERROR_CODES.ABORTED);
      } finally {
        await silent.stop();
      }
    });

    it('fails with ERR_PROXY_ABORTED at once for an aborted signal', async () => {
      const dialer = dialerFor(proxy!);
      await expectCode(dialer.connect({ host: '127.0.0.1', port: echo!.port }, { signal: AbortSignal.abort() }), PROXY_ERROR_CODES.ABORTED);
      expect(dialer.stats.connects).to.equal(0);
    });

    it('fails with ERR_PROXY_BAD_RESPONSE when the proxy speaks garbage', async () => {
      const liar = await startFixedReplyServer(target.garbage, false);
      try {
        await expectCode(dialerFor({ ...proxy!, port: liar.port }).connect({ host: '127.0.0.1', port: echo!.port }, { timeoutMs: 5000 }), PROXY_ERROR_CODES.BAD_RESPONSE);
      } finally {
        await liar.stop();
      }
    });

    it('fails with ERR_PROXY_CLOSED when the proxy hangs up without answering', async () => {
      const quitter = await startFixedReplyServer(Buffer.alloc(0), true);
      try {
        await expectCode(dialerFor({ ...proxy!, port: quitter.port }).connect({ host: '127.0.0.1', port: echo!.port }, { timeoutMs: 5000 }), PROXY_ERROR_CODES.CLOSED);
      } finally {
        await quitter.stop();
      }
    });

    it('rejects a malformed target before any byte is sent', async () => {
      const dialer = dialerFor(proxy!);
      await expectCode(dialer.connect({ host: 'evil\r\nX-Injected: 1', port: 80 }), PROXY_ERROR_CODES.BAD_TARGET);
      await expectCode(dialer.connect({ host: '127.0.0.1', port: 0 }), PROXY_ERROR_CODES.BAD_TARGET);
      await expectCode(dialer.connect({ host: 'a'.repeat(256), port: 80 }), PROXY_ERROR_CODES.BAD_TARGET);
    });
  });
}
