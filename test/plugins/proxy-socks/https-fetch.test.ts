/**
 * HTTPS through the proxy (what CA and revocation requests need): TLS runs
 * end to end inside the tunnel, with SNI and certificate checks as usual.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { expect } from 'chai';
import { PROXY_ERROR_CODES } from '../../../plugins/proxy-socks/errors.js';
import { normalizeOptions } from '../../../plugins/proxy-socks/options.js';
import { createProxyService } from '../../../plugins/proxy-socks/proxy-service.js';
import { DANTED_PATH, findBinary, startDante, startTinyproxy, TINYPROXY_PATH, type RunningProxy } from '../../helpers/proxy-servers.js';
import { makeTempDir } from '../../helpers/temp-dir.js';

describe('proxy-socks: HTTPS through the proxy', function () {
  let temp: ReturnType<typeof makeTempDir> | undefined;
  let server: Server | undefined;
  let port = 0;
  let cert: Buffer;
  const proxies: RunningProxy[] = [];

  before(async function () {
    if (findBinary('openssl') === undefined || (DANTED_PATH === undefined && TINYPROXY_PATH === undefined)) {
      // eslint-disable-next-line no-console
      console.log('      skipped: needs openssl and dante-server or tinyproxy');
      this.skip();
    }
    temp = makeTempDir('bitchat-https-');
    const keyFile = join(temp.path, 'key.pem');
    const certFile = join(temp.path, 'cert.pem');
    const made = spawnSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost',
    ]);
    expect(made.status, made.stderr.toString()).to.equal(0);
    cert = readFileSync(certFile);
    server = createServer({ key: readFileSync(keyFile), cert }, (req, res) => {
      res.end(`tls ok, sni=${(req.socket as import('node:tls').TLSSocket).servername}`);
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', () => resolve()));
    port = (server.address() as AddressInfo).port;
    if (DANTED_PATH) proxies.push(await startDante());
    if (TINYPROXY_PATH) proxies.push(await startTinyproxy());
  });
  after(async () => {
    for (const proxy of proxies) await proxy.stop();
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server!.close(() => resolve()));
    }
    temp?.cleanup();
  });

  for (const kind of ['socks5', 'http'] as const) {
    it(`fetches https by host name through ${kind === 'socks5' ? 'dante' : 'tinyproxy'}, checking the certificate`, async function () {
      const proxy = proxies.find((p) => p.type === kind);
      if (proxy === undefined) this.skip();
      const service = createProxyService(normalizeOptions({ type: kind, host: proxy!.host, port: proxy!.port }));
      try {
        const response = await service.fetch(`https://localhost:${port}/ca/revocation`, { tls: { ca: cert }, timeoutMs: 5000 });
        expect(response.status).to.equal(200);
        expect(response.body.toString()).to.equal('tls ok, sni=localhost');
        // Without our CA the same server is not trusted: the checks really run.
        const err = await service.fetch(`https://localhost:${port}/`, { timeoutMs: 5000 }).then(
          () => undefined,
          (e: unknown) => e as { code?: string },
        );
        expect(err?.code).to.equal(PROXY_ERROR_CODES.FETCH_FAILED);
        expect(service.stats.connects).to.equal(2);
      } finally {
        service.close();
      }
    });
  }
});
