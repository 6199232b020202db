import { expect } from 'chai';
import WebSocket from 'ws';
import { CONTENT_SECURITY_POLICY, tokenCookieName } from '../../../plugins/http-ui/security.js';
import { api, rawRequest, startUiNode, type UiNode } from './ui-node.js';

/** Opens a WebSocket to /api/events and reports whether the server accepted it. */
function tryWebSocket(node: UiNode, headers: Record<string, string>): Promise<{ open: boolean; status?: number }> {
  return new Promise((resolve) => {
    const socket = new WebSocket(`ws://127.0.0.1:${node.port}/api/events`, { headers, handshakeTimeout: 5000 });
    socket.on('open', () => {
      socket.close();
      resolve({ open: true });
    });
    socket.on('unexpected-response', (_req, res) => {
      res.resume();
      socket.terminate();
      resolve({ open: false, status: res.statusCode });
    });
    socket.on('error', () => resolve({ open: false }));
  });
}

describe('http-ui: security of the local API', () => {
  let node: UiNode;

  before(async () => {
    node = await startUiNode();
  });
  after(async () => {
    await node?.stop();
  });

  it('prints a loopback URL that carries a long random token', () => {
    expect(node.url).to.match(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{43}$/);
    expect(node.port).to.be.greaterThan(0);
  });

  it('refuses a request without the token (401), for the page and the API', async () => {
    for (const path of ['/', '/api/node', '/app/main.js', '/api/openapi.json']) {
      const res = await rawRequest(node.port, path);
      expect(res.status, path).to.equal(401);
      expect(res.body).to.match(/Unauthorized/);
    }
  });

  it('refuses a wrong token, as query, cookie or bearer header', async () => {
    const wrong = 'x'.repeat(node.token.length);
    expect((await rawRequest(node.port, `/?token=${wrong}`)).status).to.equal(401);
    expect((await rawRequest(node.port, '/api/node', { headers: { cookie: `${tokenCookieName(node.port)}=${wrong}` } })).status).to.equal(401);
    expect((await rawRequest(node.port, '/api/node', { headers: { authorization: `Bearer ${wrong}` } })).status).to.equal(401);
    // The right token under another port's cookie name is not ours.
    expect((await rawRequest(node.port, '/api/node', { headers: { cookie: `${tokenCookieName(node.port + 1)}=${node.token}` } })).status).to.equal(401);
  });

  it('moves the token from the URL into an HttpOnly, SameSite=Strict cookie and redirects', async () => {
    const res = await rawRequest(node.port, `/?token=${node.token}`);
    expect(res.status).to.equal(303);
    expect(res.headers.location).to.equal('/');
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).to.include(`${tokenCookieName(node.port)}=${node.token}`);
    expect(cookie).to.include('HttpOnly');
    expect(cookie).to.include('SameSite=Strict');
    const page = await rawRequest(node.port, '/', { headers: { cookie: `${tokenCookieName(node.port)}=${node.token}` } });
    expect(page.status).to.equal(200);
    expect(page.body).to.include('<script type="module" src="/app/main.js">');
  });

  it('refuses a foreign Origin (403), even with the right token', async () => {
    for (const origin of ['http://evil.example', 'null', `http://127.0.0.1:${node.port + 1}`]) {
      const res = await api(node, '/api/node', { headers: { origin } });
      expect(res.status, origin).to.equal(403);
      expect(res.body).to.match(/cross-origin/);
    }
    const post = await api(node, '/api/profile/lock', { method: 'POST', headers: { origin: 'http://evil.example' } });
    expect(post.status).to.equal(403);
    const ours = await api(node, '/api/node', { headers: { origin: `http://127.0.0.1:${node.port}` } });
    expect(ours.status).to.equal(200);
  });

  it('refuses a Host header that is not ours (DNS rebinding, 403), even with the right token', async () => {
    for (const host of ['evil.example', `evil.example:${node.port}`, `127.0.0.1:${node.port + 1}`, '127.0.0.1']) {
      const res = await api(node, '/api/node', { headers: { host } });
      expect(res.status, host).to.equal(403);
      expect(res.body).to.match(/Host/);
    }
    expect((await api(node, '/api/node', { headers: { host: `localhost:${node.port}` } })).status).to.equal(200);
  });

  it('sends a strict Content-Security-Policy and the other protective headers on every answer, refusals included', async () => {
    for (const res of [await rawRequest(node.port, '/'), await api(node, '/api/node'), await api(node, '/style.css')]) {
      expect(res.headers['content-security-policy']).to.equal(CONTENT_SECURITY_POLICY);
      expect(res.headers['x-content-type-options']).to.equal('nosniff');
      expect(res.headers['x-frame-options']).to.equal('DENY');
      expect(res.headers['referrer-policy']).to.equal('no-referrer');
      expect(res.headers['cache-control']).to.equal('no-store');
    }
    expect(CONTENT_SECURITY_POLICY).to.include("default-src 'none'");
    expect(CONTENT_SECURITY_POLICY).to.include("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).not.to.include('unsafe-inline');
    expect(CONTENT_SECURITY_POLICY).not.to.include('unsafe-eval');
  });

  it('refuses a WebSocket upgrade without the token or from a foreign Origin, and accepts ours', async () => {
    const cookie = `${tokenCookieName(node.port)}=${node.token}`;
    expect(await tryWebSocket(node, {})).to.deep.equal({ open: false, status: 401 });
    expect(await tryWebSocket(node, { cookie, origin: 'http://evil.example' })).to.deep.equal({ open: false, status: 403 });
    expect(await tryWebSocket(node, { cookie, origin: `http://127.0.0.1:${node.port}` })).to.deep.equal({ open: true });
  });

  it('pushes published events to a connected page', async () => {
    const socket = new WebSocket(`ws://127.0.0.1:${node.port}/api/events`, { headers: { cookie: `${tokenCookieName(node.port)}=${node.token}` } });
    try {
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      const received = new Promise<unknown>((resolve) => socket.once('message', (data) => resolve(JSON.parse(String(data)))));
      node.kernel.resolve('httpUi').publish({ type: 'test', value: 42 });
      expect(await received).to.deep.equal({ type: 'test', value: 42 });
    } finally {
      socket.terminate();
    }
  });

  it('documents every API route in the OpenAPI document, with its schemas', async () => {
    const res = await api(node, '/api/openapi.json');
    expect(res.status).to.equal(200);
    const doc = res.json();
    expect(doc.openapi).to.equal('3.1.0');
    expect(doc.components.securitySchemes.token).to.deep.equal({ type: 'apiKey', in: 'cookie', name: tokenCookieName(node.port) });
    const paths = doc.paths as Record<string, Record<string, any>>;
    for (const [path, method] of [
      ['/api/node', 'get'],
      ['/api/connectivity', 'get'],
      ['/api/profile', 'get'],
      ['/api/profile', 'post'],
      ['/api/profile/unlock', 'post'],
      ['/api/profile/lock', 'post'],
      ['/api/chats', 'get'],
      ['/api/chats', 'post'],
      ['/api/chats/{chatId}', 'delete'],
      ['/api/chats/{chatId}/messages', 'get'],
      ['/api/chats/{chatId}/messages', 'post'],
      ['/api/chats/{chatId}/typing', 'post'],
      ['/api/chats/{chatId}/members', 'get'],
      ['/api/search', 'get'],
      ['/api/settings', 'get'],
      ['/api/settings/plugins/{name}', 'put'],
      ['/api/files', 'get'],
    ] as const) {
      expect(paths[path]?.[method], `${method} ${path}`).to.be.an('object');
      expect(paths[path]![method].summary, `${method} ${path}`).to.be.a('string');
    }
    expect(paths['/api/chats/{chatId}/messages']!.post.requestBody.content['application/json'].schema.required).to.deep.equal(['text']);
    expect(paths['/api/chats/{chatId}/messages']!.get.parameters.map((p: { name: string }) => p.name)).to.have.members(['chatId', 'before', 'limit']);
  });
});

describe('http-ui: tampered credentials (fuzz)', () => {
  let node: UiNode;
  before(async () => {
    node = await startUiNode();
  });
  after(async () => {
    await node?.stop();
  });

  it('refuses every mutated token, in the cookie, the bearer header and the URL', async () => {
    const cookie = tokenCookieName(node.port);
    for (let i = 0; i < 150; i++) {
      const chars = node.token.split('');
      const at = i % chars.length;
      chars[at] = chars[at] === 'A' ? 'B' : 'A';
      const mutated = i % 3 === 0 ? chars.join('') : i % 3 === 1 ? node.token.slice(0, at) : `${node.token}${'x'.repeat(1 + (i % 5))}`;
      const where = i % 3;
      const res =
        where === 0
          ? await rawRequest(node.port, '/api/node', { headers: { cookie: `a=b; ${cookie}=${mutated}; c=${node.token}` } })
          : where === 1
            ? await rawRequest(node.port, '/api/node', { headers: { authorization: `Bearer ${mutated}` } })
            : await rawRequest(node.port, `/?token=${encodeURIComponent(mutated)}`);
      expect(res.status, mutated).to.equal(401);
    }
  });
});
