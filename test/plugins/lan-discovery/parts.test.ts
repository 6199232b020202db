import { expect } from 'chai';
import { ExpiringMap } from '../../../plugins/lan-discovery/expiring-map.js';
import { KeyedRateLimiter, TokenBucket } from '../../../plugins/lan-discovery/rate-limiter.js';
import {
  broadcastAddress,
  discoverTargets,
  isLoopbackAddress,
  normalizeHost,
  type InterfaceMap,
} from '../../../plugins/lan-discovery/targets.js';

describe('lan-discovery parts', () => {
  describe('ExpiringMap', () => {
    it('expires entries after the ttl and caps its size', () => {
      const map = new ExpiringMap<number>(100, 3);
      map.set('a', 1, 0);
      expect(map.get('a', 99)).to.equal(1);
      expect(map.get('a', 100)).to.equal(undefined);
      for (let i = 0; i < 10; i += 1) map.set(`k${i}`, i, 200);
      expect(map.size).to.equal(3);
      expect(map.has('k9', 200)).to.equal(true);
      expect(map.has('k0', 200)).to.equal(false);
      map.deleteWhere((_v, key) => key === 'k8');
      expect(map.has('k8', 200)).to.equal(false);
    });
  });

  describe('rate limiters', () => {
    it('lets a burst of `rate` through, then refills over time', () => {
      const bucket = new TokenBucket(5, 0);
      let granted = 0;
      for (let i = 0; i < 20; i += 1) if (bucket.take(0)) granted += 1;
      expect(granted).to.equal(5);
      expect(bucket.take(100)).to.equal(false); // 0.5 token
      expect(bucket.take(300)).to.equal(true); // 1.5 tokens by now
    });

    it('keeps one bucket per key and forgets the oldest keys', () => {
      const limiter = new KeyedRateLimiter(2, 2);
      expect([limiter.take('a', 0), limiter.take('a', 0), limiter.take('a', 0)]).to.deep.equal([true, true, false]);
      expect(limiter.take('b', 0)).to.equal(true);
      limiter.take('c', 0); // pushes out 'a'
      expect(limiter.take('a', 0)).to.equal(true); // a fresh bucket
    });
  });

  describe('targets', () => {
    it('computes directed broadcast addresses', () => {
      expect(broadcastAddress('192.168.1.7', '255.255.255.0')).to.equal('192.168.1.255');
      expect(broadcastAddress('10.1.2.3', '255.0.0.0')).to.equal('10.255.255.255');
      expect(broadcastAddress('172.16.5.4', '255.255.240.0')).to.equal('172.16.15.255');
      expect(broadcastAddress('127.0.0.1', '255.0.0.0')).to.equal('127.255.255.255');
      expect(broadcastAddress('10.0.0.1', '255.255.255.255')).to.equal(undefined);
      expect(broadcastAddress('10.0.0.1', '255.255.255.254')).to.equal(undefined);
      expect(broadcastAddress('fe80::1', 'ffff::')).to.equal(undefined);
    });

    it('lists every non-internal interface once', () => {
      const base = { mac: '00:00:00:00:00:00', cidr: null };
      const interfaces: InterfaceMap = {
        lo: [
          { ...base, address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', internal: true },
          { ...base, address: '::1', netmask: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', family: 'IPv6', internal: true, scopeid: 0 },
        ],
        eth0: [
          { ...base, address: '192.168.1.7', netmask: '255.255.255.0', family: 'IPv4', internal: false },
          { ...base, address: '192.168.1.8', netmask: '255.255.255.0', family: 'IPv4', internal: false },
          { ...base, address: 'fe80::1', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', internal: false, scopeid: 2 },
        ],
        wg0: [{ ...base, address: '10.9.0.2', netmask: '255.255.255.255', family: 'IPv4', internal: false }],
        eth1: [{ ...base, address: '10.0.0.5', netmask: '255.255.0.0', family: 'IPv4', internal: false }],
      };
      expect(discoverTargets(interfaces)).to.deep.equal({
        ipv4Broadcasts: ['10.0.255.255', '192.168.1.255'],
        ipv6Interfaces: ['eth0'],
      });
    });

    it('recognises loopback destinations and unmaps IPv4-mapped addresses', () => {
      expect(isLoopbackAddress('127.0.0.1')).to.equal(true);
      expect(isLoopbackAddress('127.255.255.255')).to.equal(true);
      expect(isLoopbackAddress('::1')).to.equal(true);
      expect(isLoopbackAddress('::ffff:127.0.0.1')).to.equal(true);
      expect(isLoopbackAddress('0.0.0.0')).to.equal(false);
      expect(isLoopbackAddress('192.0.2.255')).to.equal(false);
      expect(isLoopbackAddress('ff12::1%lo')).to.equal(false);
      expect(isLoopbackAddress('not an address')).to.equal(false);
      expect(normalizeHost('::ffff:10.1.2.3')).to.equal('10.1.2.3');
      expect(normalizeHost('fe80::1%eth0')).to.equal('fe80::1%eth0');
    });
  });
});
