/**
 * Leak test: a Tor-mode node inside a network namespace whose only way out is
 * dante's port. It dials a host name and fetches a URL through the proxy; the
 * namespace's nftables counters must show proxy traffic and not one other
 * packet (no UDP, so no DNS; nothing else). A control run of a plain local
 * lookup in the same namespace shows the counters do catch a leak.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { skipWithout, startDante, startEchoServer, type RunningProxy, type TestServer } from '../../helpers/proxy-servers.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { createLeakNamespace, leakTestUnavailable, type LeakNamespace } from './leak-netns.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/tor-node.ts', import.meta.url));

describe('proxy-socks: Tor mode leaks nothing (network namespace)', function () {
  this.timeout(60_000);
  let ns: LeakNamespace | undefined;
  let proxy: RunningProxy | undefined;
  let echo: TestServer | undefined;
  let web: Server | undefined;
  let temp: ReturnType<typeof makeTempDir> | undefined;

  before(async function () {
    skipWithout(this, 'danted');
    const why = leakTestUnavailable();
    if (why !== undefined) {
      // eslint-disable-next-line no-console
      console.log(`      skipped: leak test ${why}`);
      this.skip();
    }
    try {
      ns = createLeakNamespace();
    } catch (err) {
      // eslint-disable-next-line no-console
      console.log(`      skipped: cannot create a network namespace here (${(err as Error).message.split('\n')[0]})`);
      this.skip();
    }
    temp = makeTempDir('bitchat-leak-');
    echo = await startEchoServer();
    web = createServer((req, res) => res.end(`tracker saw ${req.url}`));
    await new Promise<void>((resolve) => web!.listen(0, '127.0.0.1', () => resolve()));
    proxy = await startDante({ listenHost: ns!.hostAddress, clientNets: [ns!.subnet] });
    ns!.allowOnly(proxy.port);
  });
  after(async () => {
    ns?.destroy();
    await proxy?.stop();
    await echo?.stop();
    if (web) {
      web.closeAllConnections();
      await new Promise<void>((resolve) => web!.close(() => resolve()));
    }
    temp?.cleanup();
  });

  it('control: a local DNS lookup inside the namespace is counted as a UDP leak', async () => {
    ns!.resetCounters();
    const result = await ns!.exec(process.execPath, ['-e', "require('node:dns').lookup('localhost', () => {})"]);
    expect(result.code, result.stderr).to.equal(0);
    expect(ns!.counters().leakedUdp).to.be.greaterThan(0);
  });

  it('a Tor-mode node dials and fetches by host name with no packet but to the proxy', async () => {
    ns!.resetCounters();
    const args = { proxyHost: ns!.hostAddress, proxyPort: proxy!.port, echoPort: echo!.port, httpPort: (web!.address() as AddressInfo).port, dataDir: temp!.path };
    const result = await ns!.exec(process.execPath, ['--import', 'tsx', FIXTURE, JSON.stringify(args)]);
    expect(result.code, result.stderr).to.equal(0);
    const report = JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
    expect(report.error, 'the node reported an error').to.equal(undefined);
    expect(report.echo).to.equal('ping through the proxy');
    expect(report.fetchStatus).to.equal(200);
    expect(report.fetchBody).to.equal('tracker saw /tracker?info_hash=x');
    expect(report.policy).to.include({ mode: 'tor', allowUdp: false, allowDns: false, allowLan: false, allowListen: false });
    const counters = ns!.counters();
    expect(counters.allowed, 'packets to the proxy').to.be.greaterThan(0);
    expect(counters.leakedUdp, 'UDP packets (DNS or other)').to.equal(0);
    expect(counters.leakedOther, 'other packets outside the proxy').to.equal(0);
  });
});
