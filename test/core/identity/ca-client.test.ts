/**
 * The CA client's transport: an injected one carries every request (the proxy's,
 * in a node behind one), its typed errors reach the caller, and the direct one
 * bounds what it reads. Hostile answers from a real HTTP server on 127.0.0.1.
 */
import { expect } from 'chai';
import { randomBytes, randomInt } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BitChatError } from '../../../core/errors.js';
import { CaClient, directCaTransport, type CaTransport } from '../../../core/identity/ca/client.js';

const FUZZ_ROUNDS = 40;

describe('identity: CA client transport', () => {
  let server: Server;
  let base = '';
  let answer: { status: number; body: Buffer } = { status: 200, body: Buffer.alloc(0) };

  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      res.writeHead(answer.status, { 'content-type': 'application/octet-stream' });
      res.end(answer.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('sends every request through the injected transport and passes its typed errors on', async () => {
    const urls: string[] = [];
    const recording: CaTransport = (url, init) => {
      urls.push(`${init.method} ${url.href}`);
      return directCaTransport(url, init);
    };
    answer = { status: 200, body: Buffer.from('{"requestId":"r1","expiresAt":5}') };
    const client = new CaClient(base, recording);
    expect(await client.register({ name: 'A', email: 'a@example.org' }, { csr: 'x' })).to.deep.equal({ requestId: 'r1', expiresAt: 5 });
    expect(urls).to.deep.equal([`POST ${base}/v1/requests`]);

    const typed = new BitChatError('ERR_PROXY_UNREACHABLE', 'no proxy');
    const down = new CaClient(base, () => Promise.reject(typed));
    const err = await down.fetchRoot().then(() => undefined, (e: unknown) => e);
    expect(err).to.equal(typed);
  });

  it('refuses an answer larger than the cap, and survives hostile answers with coded errors', async () => {
    const client = new CaClient(base);
    answer = { status: 200, body: Buffer.alloc(1024 * 1024 + 1, 0x41) };
    const tooLarge = await client.fetchRoot().then(() => undefined, (e: unknown) => e as BitChatError);
    expect(tooLarge?.code).to.equal('ERR_CA_HTTP');

    for (let i = 0; i < FUZZ_ROUNDS; i++) {
      const status = [200, 400, 404, 500][randomInt(4)]!;
      // Random bytes, well-formed JSON of the wrong shape, and truncations of it.
      const json = JSON.stringify({ code: randomBytes(4).toString('hex'), message: i, triesLeft: 'x', chain: [1], serial: 5 });
      const body = i % 3 === 0 ? randomBytes(randomInt(256)) : Buffer.from(i % 3 === 1 ? json : json.slice(0, randomInt(json.length)));
      answer = { status, body };
      for (const call of [() => client.fetchRoot(), () => client.verify('r', '123456'), () => client.register({ name: 'A', email: 'a@example.org' }, { csr: 'x' })]) {
        const outcome = await call().then(
          () => 'ok',
          (e: unknown) => e,
        );
        if (outcome === 'ok') continue;
        expect(outcome, String(outcome)).to.be.instanceOf(BitChatError);
        expect((outcome as BitChatError).code).to.match(/^ERR_/);
      }
    }
  });
});
