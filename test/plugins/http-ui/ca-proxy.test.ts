/**
 * CA registration from the UI on a node behind a proxy (Tor mode): every CA
 * request goes through a real SOCKS5 proxy (dante on 127.0.0.1; tinyproxy for
 * HTTP CONNECT), the CA's host
 * name travels to the proxy unresolved, and the real CA (with a real SMTP
 * server) sees the proxy's outgoing address, 127.0.0.2, never the node's
 * 127.0.0.1. With the proxy down the registration fails with a typed error and
 * the CA hears nothing. A registration waiting for its code survives a restart.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { CertificateAuthority } from '../../../core/identity/ca/authority.js';
import { defaultCaConfig } from '../../../core/identity/ca/config.js';
import { createSmtpMailer, type VerificationMailer } from '../../../core/identity/ca/mailer.js';
import { createCaServer } from '../../../core/identity/ca/server.js';
import { CaClient } from '../../../core/identity/ca/client.js';
import { loadProfile } from '../../../core/identity/profile.js';
import { OPEN_NETWORK_POLICY } from '../../../core/network-policy.js';
import { caTransportOf } from '../../../plugins/http-ui/ca-transport.js';
import { freePort, skipWithout, startDante, startTinyproxy, TINYPROXY_PATH, type RunningProxy } from '../../helpers/proxy-servers.js';
import { codeFrom, startSmtp } from '../../helpers/smtp.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { Rendezvous, TEST_KEY_BITS } from '../../helpers/testnet.js';
import { startChatNode } from './chat-nodes.js';
import { api, type UiNode } from './ui-node.js';

const PASSWORD = 'correct horse battery';
/** dante connects out from here; the node itself connects from 127.0.0.1. */
const PROXY_EXTERNAL = '127.0.0.2';

describe('http-ui: CA registration through the proxy (Tor mode, and plain HTTP CONNECT)', function () {
  this.timeout(120_000);
  const dir = makeTempDir('bitchat-ui-ca-proxy-');
  let smtp: Awaited<ReturnType<typeof startSmtp>> | undefined;
  let ca: CertificateAuthority | undefined;
  let mailer: VerificationMailer | undefined;
  let caServer: FastifyInstance | undefined;
  let caPort = 0;
  let dante: RunningProxy | undefined;
  /** The address of every client the CA heard, in order. */
  const seen: string[] = [];
  const nodes: UiNode[] = [];

  before(async function () {
    skipWithout(this, 'danted');
    smtp = await startSmtp();
    ca = await CertificateAuthority.init(join(dir.path, 'ca'), defaultCaConfig('Onion Test CA', { host: '127.0.0.1', port: smtp.port, from: 'ca@ca.test' }), { bits: TEST_KEY_BITS });
    mailer = createSmtpMailer(ca.config.smtp);
    caServer = createCaServer(ca, mailer);
    caServer.addHook('onRequest', async (request) => {
      seen.push(request.socket.remoteAddress ?? '?');
    });
    await caServer.listen({ host: '127.0.0.1', port: 0 });
    caPort = (caServer.server.address() as AddressInfo).port;
    dante = await startDante({ debug: true, externalHost: PROXY_EXTERNAL });
  });
  after(async () => {
    for (const node of nodes) await node.stop().catch(() => undefined);
    await caServer?.close();
    mailer?.close();
    ca?.close();
    await dante?.stop();
    if (smtp) await new Promise<void>((resolve) => smtp!.server.close(() => resolve()));
    dir.cleanup();
  });

  async function torNode(proxyPort: number): Promise<UiNode> {
    const node = await startChatNode(new Rendezvous().plugin(), { 'proxy-socks': { tor: true, host: '127.0.0.1', port: proxyPort } });
    nodes.push(node);
    return node;
  }

  it('registers a new profile through the proxy: the CA sees only the proxy, by a name the node never resolved', async () => {
    const node = await torNode(dante!.port);
    const proxy = node.kernel.resolve('proxy') as { stats: { connects: number } };
    const before = seen.length;
    const started = await api(node, '/api/profile/ca', {
      method: 'POST',
      body: { name: 'Olga', email: 'olga@example.org', password: PASSWORD, caUrl: `http://localhost:${caPort}` },
    });
    expect(started.status, started.body).to.equal(200);
    expect(started.json()).to.include({ state: 'code-sent', caName: 'Onion Test CA', error: null });

    const code = codeFrom(await smtp!.waitFor('olga@example.org'));
    const verified = await api(node, '/api/profile/ca/verify', { method: 'POST', body: { code } });
    expect(verified.status, verified.body).to.equal(200);
    expect(verified.json()).to.include({ state: 'unlocked', email: 'olga@example.org' });
    const saved = await loadProfile(node.kernel.config.profile!, PASSWORD);
    expect(saved.kind).to.equal('ca');
    expect(saved.staple).to.be.instanceOf(Buffer);

    // Root, request, verify, status: four requests, every one from the proxy's address.
    const heard = seen.slice(before);
    expect(heard).to.have.length(4);
    expect(new Set(heard)).to.deep.equal(new Set([PROXY_EXTERNAL]));
    expect(proxy.stats.connects).to.be.at.least(1);
    // SOCKS5 address type 3: the name went to the proxy unresolved.
    expect(dante!.log()).to.include(`ATYP: 3 address: localhost.${caPort}`);
  });

  it('registers through an HTTP CONNECT proxy (tinyproxy, plain proxy mode) the same way', async function () {
    if (TINYPROXY_PATH === undefined) this.skip();
    const tinyproxy = await startTinyproxy({ bindHost: PROXY_EXTERNAL });
    try {
      const node = await startChatNode(new Rendezvous().plugin(), { 'proxy-socks': { type: 'http', host: '127.0.0.1', port: tinyproxy.port } });
      nodes.push(node);
      const before = seen.length;
      const started = await api(node, '/api/profile/ca', {
        method: 'POST',
        body: { name: 'Quinn', email: 'quinn@example.org', password: PASSWORD, caUrl: `http://localhost:${caPort}` },
      });
      expect(started.json()).to.include({ state: 'code-sent' });
      const code = codeFrom(await smtp!.waitFor('quinn@example.org'));
      const verified = await api(node, '/api/profile/ca/verify', { method: 'POST', body: { code } });
      expect(verified.status, verified.body).to.equal(200);
      expect(seen.slice(before)).to.deep.equal([PROXY_EXTERNAL, PROXY_EXTERNAL, PROXY_EXTERNAL, PROXY_EXTERNAL]);
      // The CONNECT line named the CA by its host name.
      expect(tinyproxy.log()).to.include(`localhost:${caPort}`);
    } finally {
      await tinyproxy.stop();
    }
  });

  it('with the proxy down fails closed with a typed error: no key made, nothing sent to the CA', async () => {
    const node = await torNode(await freePort());
    const before = seen.length;
    const refused = await api(node, '/api/profile/ca', {
      method: 'POST',
      body: { name: 'Pavel', email: 'pavel@example.org', password: PASSWORD, caUrl: `http://127.0.0.1:${caPort}` },
    });
    expect(refused.status).to.equal(502);
    expect(refused.json().code).to.equal('ERR_PROXY_UNREACHABLE');
    expect((await api(node, '/api/profile')).json()).to.deep.include({ status: { state: 'none' }, registration: null });
    expect(existsSync(node.kernel.config.profile!)).to.equal(false);
    expect(seen.length).to.equal(before);
  });

  it('a policy that forbids direct TCP without a proxy service sends nothing (ERR_UI_NO_PROXY)', async () => {
    const policy = { ...OPEN_NETWORK_POLICY, mode: 'tor', allowDirectTcp: false };
    const services = { tryResolve: <T>(name: string): T | undefined => (name === 'networkPolicy' ? (policy as T) : undefined) };
    const before = seen.length;
    const err = await new CaClient(`http://127.0.0.1:${caPort}`, caTransportOf(services)).fetchRoot().then(() => undefined, (e: unknown) => e as { code?: string });
    expect(err?.code).to.equal('ERR_UI_NO_PROXY');
    expect(seen.length).to.equal(before);
    // The same services without the policy: direct, and the CA hears 127.0.0.1.
    const open = { tryResolve: <T>(): T | undefined => undefined };
    await new CaClient(`http://127.0.0.1:${caPort}`, caTransportOf(open)).fetchRoot();
    expect(seen.slice(before)).to.deep.equal(['127.0.0.1']);
  });

  /** The saved registration row as the node's own database holds it. */
  function savedRows(node: UiNode): Array<Record<string, unknown>> {
    return node.kernel.storage.db.prepare('SELECT * FROM http_ui_ca_registration').all() as Array<Record<string, unknown>>;
  }

  it('a registration waiting for its code survives a restart: unlock, enter the code, through the proxy again', async () => {
    const node = await torNode(dante!.port);
    const started = await api(node, '/api/profile/ca', {
      method: 'POST',
      body: { name: 'Rita', email: 'rita@example.org', password: PASSWORD, caUrl: `http://localhost:${caPort}` },
    });
    expect(started.json()).to.include({ state: 'code-sent' });
    const code = codeFrom(await smtp!.waitFor('rita@example.org'));

    // What is kept: never the code, the password or key material.
    const rows = savedRows(node);
    expect(rows).to.have.length(1);
    const stored = JSON.stringify(rows[0], (_k, v: unknown) => (v && typeof v === 'object' && 'type' in v && (v as { type: string }).type === 'Buffer' ? '<der>' : v));
    expect(stored).to.include('rita@example.org');
    for (const secret of [code, PASSWORD, 'PRIVATE KEY']) expect(stored).not.to.include(secret);

    await node.restart();
    const after = (await api(node, '/api/profile')).json();
    expect(after.status.state).to.equal('locked');
    expect(after.registration).to.include({ state: 'code-sent', email: 'rita@example.org', caName: 'Onion Test CA', caUrl: `http://localhost:${caPort}` });
    const locked = await api(node, '/api/profile/ca/verify', { method: 'POST', body: { code } });
    expect(locked.status).to.equal(409);

    expect((await api(node, '/api/profile/unlock', { method: 'POST', body: { password: PASSWORD } })).status).to.equal(200);
    const before = seen.length;
    const verified = await api(node, '/api/profile/ca/verify', { method: 'POST', body: { code } });
    expect(verified.status, verified.body).to.equal(200);
    // Unlocked again with the password the page's unlock gave: the chats run on the CA's certificate.
    expect(verified.json()).to.include({ state: 'unlocked', email: 'rita@example.org' });
    expect((await api(node, '/api/profile')).json()).to.deep.include({ certificate: 'ca', registration: null });
    expect((await loadProfile(node.kernel.config.profile!, PASSWORD)).kind).to.equal('ca');
    expect(seen.slice(before)).to.deep.equal([PROXY_EXTERNAL, PROXY_EXTERNAL]);
    expect(savedRows(node)).to.have.length(0);
  });

  it('a registration taken up after a restart can be cancelled: the self-issued profile stays, nothing is left', async () => {
    const node = await torNode(dante!.port);
    await api(node, '/api/profile/ca', { method: 'POST', body: { name: 'Sam', email: 'sam@example.org', password: PASSWORD, caUrl: `http://localhost:${caPort}` } });
    await smtp!.waitFor('sam@example.org');
    await node.restart();
    expect((await api(node, '/api/profile')).json().registration).to.include({ state: 'code-sent', email: 'sam@example.org' });
    expect((await api(node, '/api/profile/ca', { method: 'DELETE' })).status).to.equal(200);
    await node.restart();
    expect((await api(node, '/api/profile')).json()).to.deep.include({ registration: null });
    expect(savedRows(node)).to.have.length(0);
    expect((await loadProfile(node.kernel.config.profile!, PASSWORD)).kind).to.equal('self');
  });
});
