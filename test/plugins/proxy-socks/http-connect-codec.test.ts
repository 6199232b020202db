import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { MAX_CONNECT_RESPONSE_BYTES } from '../../../plugins/proxy-socks/constants.js';
import { PROXY_ERROR_CODES, ProxyError } from '../../../plugins/proxy-socks/errors.js';
import { decodeConnectResponse, encodeConnectRequest } from '../../../plugins/proxy-socks/http-connect-codec.js';
import { prng } from '../../helpers/prng.js';

const FUZZ_CASES = 4000;
const FUZZ_BUDGET_MS = 2000;

describe('HTTP CONNECT codec', () => {
  describe('encodeConnectRequest', () => {
    it('writes the request line and Host header', () => {
      expect(encodeConnectRequest({ host: 'example.org', port: 443 }).toString()).to.equal(
        'CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n',
      );
    });

    it('brackets IPv6 literals', () => {
      expect(encodeConnectRequest({ host: '2001:db8::1', port: 8080 }).toString()).to.contain('CONNECT [2001:db8::1]:8080 HTTP/1.1\r\n');
    });

    it('adds Basic auth (RFC 7617 test vector)', () => {
      const head = encodeConnectRequest({ host: '10.0.0.1', port: 1 }, { username: 'Aladdin', password: 'open sesame' }).toString();
      expect(head).to.contain('Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n');
    });

    it('refuses host names that could inject headers', () => {
      for (const host of ['a\r\nX: y', 'a b', 'a/b', '', '-a', 'a..b', 'fe80::1%eth0']) {
        expect(() => encodeConnectRequest({ host, port: 80 }), host).to.throw(ProxyError).with.property('code', PROXY_ERROR_CODES.BAD_TARGET);
      }
    });
  });

  describe('decodeConnectResponse', () => {
    it('decodes a 200 and says where the tunnel bytes start', () => {
      const buf = Buffer.from('HTTP/1.1 200 Connection established\r\nProxy-Agent: x/1\r\n\r\nTUNNEL');
      const response = decodeConnectResponse(buf);
      expect(response).to.deep.equal({
        httpVersion: '1.1',
        status: 200,
        reason: 'Connection established',
        headers: [['proxy-agent', 'x/1']],
        headLength: buf.length - 'TUNNEL'.length,
      });
    });

    it('accepts HTTP/1.0, no reason, and bare LF line ends', () => {
      expect(decodeConnectResponse(Buffer.from('HTTP/1.0 200\n\n'))).to.include({ status: 200, httpVersion: '1.0', reason: '', headLength: 14 });
    });

    it('returns undefined while the head is incomplete, at every split point', () => {
      const full = Buffer.from('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="x"\r\n\r\n');
      for (let i = 0; i < full.length; i++) {
        expect(decodeConnectResponse(full.subarray(0, i)), `prefix ${i}`).to.equal(undefined);
      }
      expect(decodeConnectResponse(full)).to.include({ status: 407 });
    });

    it('rejects garbage at the first wrong byte, not at the cap', () => {
      for (const text of ['X', 'SSH-2.0', '\u0005\u0000', 'HTTP/2 200\r\n\r\n', 'HTTP/1.1 20\r\n\r\n', 'HTTP/1.1 999 x\r\n\r\n']) {
        expect(() => decodeConnectResponse(Buffer.from(text)), JSON.stringify(text)).to.throw(ProxyError).with.property('code', PROXY_ERROR_CODES.BAD_RESPONSE);
      }
    });

    it('rejects bad header lines and control bytes', () => {
      for (const text of [
        'HTTP/1.1 200 OK\r\nno colon here\r\n\r\n',
        'HTTP/1.1 200 OK\r\n: empty name\r\n\r\n',
        'HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n',
        'HTTP/1.1 200 OK\r\nX: a\u0000b\r\n\r\n',
        'HTTP/1.1 200 O\u0001K\r\n\r\n',
      ]) {
        expect(() => decodeConnectResponse(Buffer.from(text)), JSON.stringify(text)).to.throw(ProxyError).with.property('code', PROXY_ERROR_CODES.BAD_RESPONSE);
      }
    });

    it('caps the head size and the header count', () => {
      const endless = Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nX: '), Buffer.alloc(MAX_CONNECT_RESPONSE_BYTES, 0x61)]);
      expect(() => decodeConnectResponse(endless)).to.throw(ProxyError, /larger than/);
      const many = `HTTP/1.1 200 OK\r\n${'A: b\r\n'.repeat(65)}\r\n`;
      expect(() => decodeConnectResponse(Buffer.from(many))).to.throw(ProxyError, /headers/);
    });

    it('fuzz: random and mutated heads give a response, undefined, or ERR_PROXY_BAD_RESPONSE, within the cap', () => {
      const random = prng(0xc0ffee);
      const seeds = [
        'HTTP/1.1 200 Connection established\r\n\r\n',
        'HTTP/1.0 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="tinyproxy"\r\nContent-Length: 0\r\n\r\n',
        'HTTP/1.1 403 Forbidden\r\nServer: x\r\n\r\nbody',
      ].map((s) => Buffer.from(s));
      const started = Date.now();
      let cases = 0;
      for (; cases < FUZZ_CASES && Date.now() - started < FUZZ_BUDGET_MS; cases++) {
        let buf: Buffer;
        if (cases % 4 === 0) {
          buf = randomBytes(Math.floor(random() * 64));
        } else {
          const seed = seeds[cases % seeds.length] as Buffer;
          buf = Buffer.from(seed);
          const edits = 1 + Math.floor(random() * 4);
          for (let e = 0; e < edits; e++) {
            const at = Math.floor(random() * buf.length);
            const kind = random();
            if (kind < 0.5) buf[at] = Math.floor(random() * 256);
            else if (kind < 0.75) buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + 1)]);
            else buf = Buffer.concat([buf.subarray(0, at), Buffer.from([Math.floor(random() * 256)]), buf.subarray(at)]);
          }
          if (random() < 0.2) buf = buf.subarray(0, Math.floor(random() * buf.length));
        }
        try {
          const response = decodeConnectResponse(buf);
          if (response !== undefined) {
            expect(response.status).to.be.within(100, 599);
            expect(response.headLength).to.be.within(1, Math.min(buf.length, MAX_CONNECT_RESPONSE_BYTES));
          }
        } catch (err) {
          expect(err).to.be.instanceOf(ProxyError);
          expect((err as ProxyError).code).to.equal(PROXY_ERROR_CODES.BAD_RESPONSE);
        }
      }
      expect(cases).to.be.greaterThan(500);
    });
  });
});
