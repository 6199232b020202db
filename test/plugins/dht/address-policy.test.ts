import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { endpointKey, isPrivateAddress, normaliseHost, parseHostPort, rejectEndpoint } from '../../../plugins/dht/address-policy.js';

describe('plugins/dht address policy', () => {
  it('classifies end points', () => {
    const cases: Array<[string, number, boolean, 'invalid' | 'private' | null]> = [
      ['8.8.8.8', 6881, false, null],
      ['2001:db8::1', 6881, false, null],
      ['127.0.0.1', 6881, false, 'private'],
      ['127.0.0.1', 6881, true, null],
      ['10.1.2.3', 1, false, 'private'],
      ['172.20.0.1', 1, false, 'private'],
      ['172.32.0.1', 1, false, null],
      ['192.168.1.1', 1, false, 'private'],
      ['169.254.0.1', 1, false, 'private'],
      ['100.64.0.1', 1, false, 'private'],
      ['::1', 1, false, 'private'],
      ['fd00::1', 1, false, 'private'],
      ['fe80::1', 1, false, 'private'],
      ['::ffff:127.0.0.1', 1, false, 'private'],
      ['::ffff:8.8.8.8', 1, false, null],
      ['0.0.0.0', 1, true, 'invalid'],
      ['::', 1, true, 'invalid'],
      ['224.0.0.1', 1, true, 'invalid'],
      ['255.255.255.255', 1, true, 'invalid'],
      ['ff02::1', 1, true, 'invalid'],
      ['example.org', 1, true, 'invalid'],
      ['8.8.8.8', 0, true, 'invalid'],
      ['8.8.8.8', 65536, true, 'invalid'],
    ];
    for (const [host, port, allow, want] of cases) expect(rejectEndpoint({ host, port }, allow), `${host}:${port} ${allow}`).to.equal(want);
    expect(isPrivateAddress('192.168.0.1')).to.equal(true);
    expect(isPrivateAddress('1.1.1.1')).to.equal(false);
  });

  it('parses host:port and [v6]:port, keys them stably', () => {
    expect(parseHostPort('1.2.3.4:80')).to.deep.equal({ host: '1.2.3.4', port: 80 });
    expect(parseHostPort('[2001:DB8::1]:6881')).to.deep.equal({ host: '2001:db8::1', port: 6881 });
    expect(parseHostPort('router.example.org:6881')).to.deep.equal({ host: 'router.example.org', port: 6881 });
    for (const bad of ['1.2.3.4', '1.2.3.4:0', '1.2.3.4:70000', ':80', '[::1]', '2001:db8::1:80', '', 'a b:1']) expect(parseHostPort(bad), bad).to.equal(null);
    expect(endpointKey({ host: '::ffff:1.2.3.4', port: 5 })).to.equal('1.2.3.4:5');
    expect(endpointKey({ host: '2001:db8::1', port: 5 })).to.equal('[2001:db8::1]:5');
    expect(normaliseHost('[::1]')).to.equal('::1');
  });

  it('never throws on random input (fuzz, 5000 cases)', () => {
    const alphabet = '0123456789abcdef:.[]%/ -xX';
    for (let i = 0; i < 5_000; i++) {
      const bytes = randomBytes(1 + (i % 40));
      const text = i % 2 === 0 ? bytes.toString('latin1') : [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
      const parsed = parseHostPort(text);
      if (parsed) {
        expect(parsed.port).to.be.within(1, 65535);
        rejectEndpoint(parsed, i % 3 === 0);
        endpointKey(parsed);
      }
      rejectEndpoint({ host: text, port: bytes.readUInt8(0) * 300 }, true);
    }
  });
});
