import { expect } from 'chai';
import { PROXY_ERROR_CODES, ProxyError } from '../../../plugins/proxy-socks/errors.js';
import { assertAllowed, createNetworkPolicy, isAllowed, OPEN_NETWORK_POLICY } from '../../../plugins/proxy-socks/network-policy.js';
import { describeProxy, normalizeOptions } from '../../../plugins/proxy-socks/options.js';
import { ProxyDialer } from '../../../plugins/proxy-socks/proxy-dialer.js';

describe('proxy-socks options', () => {
  it('defaults to SOCKS5 on 127.0.0.1:1080, Tor to :9050, HTTP to :8080', () => {
    expect(normalizeOptions({}).proxy).to.deep.equal({ type: 'socks5', host: '127.0.0.1', port: 1080 });
    expect(normalizeOptions({ tor: true }).proxy).to.deep.equal({ type: 'socks5', host: '127.0.0.1', port: 9050 });
    expect(normalizeOptions({ type: 'http' }).proxy.port).to.equal(8080);
    expect(normalizeOptions({}).connectTimeoutMs).to.equal(10_000);
  });

  it('rejects bad combinations without echoing the credential values', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ password: 'hunter2' }, /username is required/],
      [{ username: 'u', password: 'x'.repeat(256) }, /password must be at most 255/],
      [{ username: 'u\r\n', password: 'p' }, /control characters/],
      [{ type: 'http', username: 'a:b', password: 'hunter2' }, /must not contain ":"/],
      [{ tor: true, host: 'tor.example' }, /IP literal/],
      [{ port: 70000 }, /port/],
      [{ type: 'socks4' }, /type/],
    ];
    for (const [raw, message] of cases) {
      let caught: unknown;
      try {
        normalizeOptions(raw);
      } catch (err) {
        caught = err;
      }
      expect(caught, JSON.stringify(raw)).to.be.instanceOf(ProxyError);
      expect((caught as ProxyError).code).to.equal(PROXY_ERROR_CODES.BAD_OPTIONS);
      expect((caught as Error).message).to.match(message);
      expect((caught as Error).message).to.not.include('hunter2');
    }
  });

  it('names a proxy without credentials, IPv6 in brackets', () => {
    expect(describeProxy({ type: 'socks5', host: '::1', port: 9050, username: 'u', password: 'secret' })).to.equal('socks5 [::1]:9050');
  });
});

describe('network policy', () => {
  it('plain proxy mode forbids only direct TCP (spec §8: LAN and listener stay)', () => {
    const policy = createNetworkPolicy({ tor: false, listen: false });
    expect(isAllowed(policy, 'directTcp')).to.equal(false);
    for (const capability of ['udp', 'lan', 'listen', 'dns'] as const) expect(isAllowed(policy, capability), capability).to.equal(true);
  });

  it('Tor mode forbids everything but the proxy, the listener only when asked', () => {
    const strict = createNetworkPolicy({ tor: true, listen: false });
    for (const capability of ['directTcp', 'udp', 'lan', 'listen', 'dns'] as const) expect(isAllowed(strict, capability), capability).to.equal(false);
    expect(isAllowed(createNetworkPolicy({ tor: true, listen: true }), 'listen')).to.equal(true);
    expect(() => assertAllowed(strict, 'udp', 'trackers')).to.throw(ProxyError, /trackers: udp is not allowed in tor mode/);
  });

  it('no policy registered means everything is allowed', () => {
    expect(isAllowed(undefined, 'udp')).to.equal(true);
    expect(() => assertAllowed(undefined, 'dns', 'x')).to.not.throw();
    expect(Object.values(OPEN_NETWORK_POLICY).filter((v) => v === false)).to.have.length(0);
  });
});

describe('Tor-mode dialer backstop', () => {
  it('refuses to resolve a proxy host name even if options checks were bypassed', async () => {
    const dialer = new ProxyDialer({ proxy: { type: 'socks5', host: 'localhost', port: 9 }, tor: true, connectTimeoutMs: 2000 });
    let caught: unknown;
    try {
      await dialer.connect({ host: 'example.org', port: 80 });
    } catch (err) {
      caught = err;
    }
    expect((caught as ProxyError).code).to.equal(PROXY_ERROR_CODES.POLICY);
  });
});
