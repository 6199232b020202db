import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { decodeBencode } from '../../../plugins/trackers/bencode.js';
import { buildAnnounceUrl, decodeAnnounceResponse, ipv6Bytes } from '../../../plugins/trackers/http-announce.js';
import { TrackerDiscovery } from '../../../plugins/trackers/tracker-discovery.js';
import type { PeerReport } from '../../compliance/discovery.js';
import { announceBody, compactPeers, startHostileHttpTracker, type HostileTracker } from './hostile-tracker.js';

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code ?? 'no code';
  }
  return 'no error';
}

describe('plugins/trackers bencode decoder', () => {
  it('decodes the four forms', () => {
    const doc = decodeBencode(Buffer.from('d3:agei-42e4:listli1e2:abe4:name3:bobe'));
    expect(doc).to.deep.equal(Object.assign(Object.create(null), { age: -42, list: [1, Buffer.from('ab')], name: Buffer.from('bob') }));
    expect(decodeBencode(Buffer.from('i0e'))).to.equal(0);
    expect(decodeBencode(Buffer.from('0:'))).to.deep.equal(Buffer.alloc(0));
    expect(decodeBencode(Buffer.from('le'))).to.deep.equal([]);
  });

  it('refuses malformed input with ERR_TRACKER_BAD_BENCODE', () => {
    for (const bad of ['', 'i', 'ie', 'i-e', 'i03e', 'i-0e', 'i99999999999999999e', '5:abc', '999999999:x', 'l', 'd', 'di1ei2ee', 'x', 'i1ei2e', 'd1:a', '-1:a', '1a']) {
      expect(code(() => decodeBencode(Buffer.from(bad))), JSON.stringify(bad)).to.equal('ERR_TRACKER_BAD_BENCODE');
    }
  });

  it('caps depth and item count (bombs)', () => {
    expect(code(() => decodeBencode(Buffer.from('l'.repeat(100_000) + 'e'.repeat(100_000))))).to.equal('ERR_TRACKER_BAD_BENCODE');
    expect(code(() => decodeBencode(Buffer.from('l' + 'i1e'.repeat(200_000) + 'e')))).to.equal('ERR_TRACKER_BAD_BENCODE');
    expect(code(() => decodeBencode(Buffer.from('l'.repeat(17) + 'e'.repeat(17))))).to.equal('ERR_TRACKER_BAD_BENCODE');
    expect(() => decodeBencode(Buffer.from('l'.repeat(16) + 'e'.repeat(16)))).not.to.throw();
  });

  it('keeps "__proto__" keys as plain data', () => {
    const doc = decodeBencode(Buffer.from('d9:__proto__d5:pwnedi1eee')) as Record<string, unknown>;
    expect(({} as Record<string, unknown>).pwned).to.equal(undefined);
    expect(Object.keys(doc)).to.deep.equal(['__proto__']);
  });

  it('never throws anything but its own error on random and mutated input (fuzz, 4000 cases)', () => {
    const seed = announceBody(compactPeers(3), Buffer.alloc(18));
    for (let i = 0; i < 4_000; i++) {
      let input: Buffer;
      if (i % 2 === 0) input = randomBytes(1 + (i % 64));
      else {
        input = Buffer.from(seed);
        for (let k = 0; k < 1 + (i % 4); k++) input[randomBytes(2).readUInt16BE(0) % input.length] = randomBytes(1)[0]!;
      }
      for (const decode of [() => decodeBencode(input), () => decodeAnnounceResponse(input)]) {
        try {
          decode();
        } catch (err) {
          expect((err as { code?: string }).code, String(err)).to.match(/^ERR_TRACKER_/);
        }
      }
    }
  });
});

describe('plugins/trackers HTTP announce codec', () => {
  it('reads compact peers, peers6, intervals, external ip', () => {
    const body = Buffer.concat([
      Buffer.from('d8:completei3e11:external ip4:'),
      Buffer.from([203, 0, 113, 7]),
      Buffer.from('10:incompletei4e8:intervali1800e12:min intervali60e5:peers6:'),
      Buffer.from([1, 2, 3, 4, 0x1a, 0xe1]),
      Buffer.from('6:peers618:'),
      ipv6Bytes('2001:db8::1'),
      Buffer.from([0x1a, 0xe2]),
      Buffer.from('e'),
    ]);
    const r = decodeAnnounceResponse(body);
    expect(r).to.include({ interval: 1800, minInterval: 60, complete: 3, incomplete: 4 });
    expect(r.peers).to.deep.equal(Buffer.from([1, 2, 3, 4, 0x1a, 0xe1]));
    expect(r.peers6.length).to.equal(18);
    expect(r.externalIp).to.deep.equal(Buffer.from([203, 0, 113, 7]));
    expect(r.problems).to.deep.equal([]);
  });

  it('converts dictionary peers, skipping names and bad ports', () => {
    const r = decodeAnnounceResponse(
      Buffer.from('d8:intervali60e5:peersld2:ip7:1.2.3.44:porti80eed2:ip3:::14:porti81eed2:ip5:a.org4:porti82eed2:ip7:1.2.3.44:porti0eeee'),
    );
    expect(r.peers).to.deep.equal(Buffer.from([1, 2, 3, 4, 0, 80]));
    expect(r.peers6).to.deep.equal(Buffer.concat([ipv6Bytes('::1'), Buffer.from([0, 81])]));
    expect(r.problems).to.deep.equal(['peers: 2 unusable dictionary entries']);
  });

  it('cuts odd-length compact lists to whole entries and says so', () => {
    const r = decodeAnnounceResponse(announceBody(Buffer.alloc(8), Buffer.alloc(20)));
    expect(r.peers.length).to.equal(6);
    expect(r.peers6.length).to.equal(18);
    expect(r.problems).to.have.length(2);
  });

  it('returns a failure reason, refuses answers with no interval or not a dictionary', () => {
    expect(decodeAnnounceResponse(Buffer.from('d14:failure reason4:nopee')).failure).to.equal('nope');
    expect(code(() => decodeAnnounceResponse(Buffer.from('d5:peers0:e')))).to.equal('ERR_TRACKER_BAD_RESPONSE');
    expect(code(() => decodeAnnounceResponse(Buffer.from('le')))).to.equal('ERR_TRACKER_BAD_RESPONSE');
  });

  it('writes IPv6 literals as 16 bytes', () => {
    expect(ipv6Bytes('::1').toString('hex')).to.equal('00000000000000000000000000000001');
    expect(ipv6Bytes('2001:db8::1').toString('hex')).to.equal('20010db8000000000000000000000001');
    expect(ipv6Bytes('fe80::1:2').toString('hex')).to.equal('fe800000000000000000000000010002');
    expect(ipv6Bytes('::ffff:1.2.3.4').toString('hex')).to.equal('00000000000000000000ffff01020304');
    expect(ipv6Bytes('1:2:3:4:5:6:7:8').toString('hex')).to.equal('00010002000300040005000600070008');
  });

  it('percent-encodes every byte outside the unreserved set', () => {
    const url = buildAnnounceUrl('http://t/announce', { info_hash: Buffer.from([0x00, 0x41, 0xff, 0x2e]), port: 80, event: undefined });
    expect(url).to.equal('http://t/announce?info_hash=%00A%FF.&port=80');
    expect(buildAnnounceUrl('http://t/a?k=1', { x: 'a b' })).to.equal('http://t/a?k=1&x=a%20b');
  });
});

describe('plugins/trackers HTTP requests on the wire', () => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
  });

  async function hostile(mode: Parameters<typeof startHostileHttpTracker>[0]): Promise<HostileTracker> {
    const h = await startHostileHttpTracker(mode);
    closers.push(() => h.close());
    return h;
  }

  it('sends the spec §6.1 parameters, no keep-alive, and "stopped" on withdraw', async () => {
    const h = await hostile('peers6');
    const s = new TrackerDiscovery({ announce: [h.url], allowPrivateAddresses: true }, { onPeer: () => {} });
    closers.push(() => s.stop());
    await s.start();
    const net = randomBytes(20);
    await s.announce(net, 4401);
    await s.withdraw(net);
    expect(h.seen).to.have.length(2);
    const first = new URL(h.seen[0]!.url, 'http://x');
    const raw = /info_hash=([^&]*)/.exec(h.seen[0]!.url)![1]!;
    expect(Buffer.from(raw.replace(/%([0-9A-F]{2})/g, (_m, x: string) => String.fromCharCode(parseInt(x, 16))), 'latin1')).to.deep.equal(net);
    expect(first.searchParams.get('port')).to.equal('4401');
    expect(first.searchParams.get('compact')).to.equal('1');
    expect(first.searchParams.get('numwant')).to.equal('50');
    expect(first.searchParams.get('left')).to.equal('0');
    expect(first.searchParams.get('event')).to.equal('started');
    expect(h.seen[0]!.headers.connection).to.equal('close');
    expect(h.seen[0]!.headers['accept-encoding']).to.equal('identity');
    expect(new URL(h.seen[1]!.url, 'http://x').searchParams.get('event')).to.equal('stopped');
    const peerId = /peer_id=([^&]*)/.exec(h.seen[0]!.url)![1]!;
    expect(peerId.startsWith('-BC0100-')).to.equal(true);
  });

  it('keeps sending "started" until a tracker has taken it, one request at a time', async () => {
    const h = await hostile('failure');
    const s = new TrackerDiscovery({ announce: [h.url], allowPrivateAddresses: true, retryBaseMs: 60_000 }, { onPeer: () => {} });
    closers.push(() => s.stop());
    await s.start();
    const net = randomBytes(20);
    await s.announce(net, 4404);
    await Promise.all([s.lookup(net), s.lookup(net)]);
    expect(h.seen.map((r) => new URL(r.url, 'http://x').searchParams.get('event'))).to.deep.equal(['started', 'started']);
    expect(s.stats.announceErrors).to.equal(2);
  });

  it('reports dictionary-form peers, skipping what is unusable', async () => {
    const h = await hostile('dict-peers');
    const found: PeerReport[] = [];
    const s = new TrackerDiscovery({ announce: [h.url], allowPrivateAddresses: true }, { onPeer: (networkId, endpoint) => found.push({ networkId, endpoint }) });
    closers.push(() => s.stop());
    await s.start();
    await s.announce(randomBytes(20), 4402);
    expect(found.map((f) => `${f.endpoint.host}|${f.endpoint.port}`)).to.deep.equal(['127.0.0.1|7101', '2001:db8::5|7102']);
    expect(s.stats.malformedResponses).to.equal(1);
  });

  for (const mode of ['oversized', 'oversized-chunked'] as const) {
    it(`stops reading an answer over the size cap (${mode})`, async () => {
      const h = await hostile(mode);
      const s = new TrackerDiscovery({ announce: [h.url], allowPrivateAddresses: true }, { onPeer: () => {} });
      closers.push(() => s.stop());
      await s.start();
      await s.announce(randomBytes(20), 4403);
      expect(s.stats.announceErrors).to.equal(1);
      expect(s.stats.peersFound).to.equal(0);
    });
  }
});

describe('plugins/trackers docs/protocol/discovery.md test vectors', () => {
  it('request URL', () => {
    const url = buildAnnounceUrl('http://tracker.example/announce', {
      info_hash: Buffer.from('000102030405060708090a0b0c0d0e0f10111213', 'hex'),
      peer_id: Buffer.concat([Buffer.from('-BC0100-'), Buffer.alloc(12, 0xab)]),
      port: 4001,
      uploaded: 0,
      downloaded: 0,
      left: 0,
      numwant: 50,
      compact: 1,
      no_peer_id: 1,
      event: 'started',
    });
    expect(url).to.equal(
      'http://tracker.example/announce?info_hash=%00%01%02%03%04%05%06%07%08%09%0A%0B%0C%0D%0E%0F%10%11%12%13&peer_id=-BC0100-%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB&port=4001&uploaded=0&downloaded=0&left=0&numwant=50&compact=1&no_peer_id=1&event=started',
    );
  });

  it('response', () => {
    const r = decodeAnnounceResponse(
      Buffer.from(
        '64383a696e74657276616c69313830306531323a6d696e20696e74657276616c69363065353a706565727331323a010203041ae17f0000011f90363a70656572733631383a20010db80000000000000000000000011ae165',
        'hex',
      ),
    );
    expect(r.interval).to.equal(1800);
    expect(r.minInterval).to.equal(60);
    expect(r.peers.toString('hex')).to.equal('010203041ae17f0000011f90');
    expect(r.peers6.toString('hex')).to.equal('20010db80000000000000000000000011ae1');
  });
});
