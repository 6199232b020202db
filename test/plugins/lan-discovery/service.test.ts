import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { decodePacket, deriveLanKey, encodeQuery, encodeResponse } from '../../../plugins/lan-discovery/packet.js';
import {
  freeUdpPort,
  loopbackOptions,
  makeNode,
  networkIdOf,
  openRaw,
  sleep,
  waitFor,
  type RawSocket,
  type TestNode,
} from './helpers.js';

describe('LanDiscovery service on loopback', () => {
  let nodes: TestNode[] = [];
  let raws: RawSocket[] = [];
  let port = 0;

  beforeEach(async () => {
    port = await freeUdpPort();
  });

  afterEach(async () => {
    await Promise.all(nodes.map((n) => n.service.stop()));
    await Promise.all(raws.map((r) => r.close()));
    for (const n of nodes) expect(n.service.stats.sendsBlocked, 'sent outside loopback').to.equal(0);
    nodes = [];
    raws = [];
  });

  async function node(extra: Parameters<typeof loopbackOptions>[1] = {}): Promise<TestNode> {
    const n = makeNode(loopbackOptions(port, extra));
    nodes.push(n);
    await n.service.start();
    return n;
  }

  async function raw(bindPort = 0, reuse = false, address = '127.0.0.1'): Promise<RawSocket> {
    const r = await openRaw(bindPort, address, reuse);
    raws.push(r);
    return r;
  }

  it('finds each other: two nodes of one network on one machine', async () => {
    const net = networkIdOf('two nodes');
    const a = await node();
    const b = await node();
    a.service.announce(net, 5001);
    b.service.announce(net, 5002);
    await waitFor(() => a.peers.length >= 1 && b.peers.length >= 1, 'both nodes to find the other');
    expect(a.peers[0]!.endpoint).to.deep.equal({ host: '127.0.0.1', port: 5002 });
    expect(b.peers[0]!.endpoint).to.deep.equal({ host: '127.0.0.1', port: 5001 });
    expect(a.peers[0]!.networkId.equals(net)).to.equal(true);
    expect(a.service.targets()).to.deep.equal({ ipv4: ['127.255.255.255'], ipv6: [] });
  });

  it('connects N nodes into a full view and keeps networks apart', async () => {
    const red = networkIdOf('red');
    const blue = networkIdOf('blue');
    const reds = [await node(), await node(), await node()];
    const outsider = await node();
    reds.forEach((n, i) => n.service.announce(red, 6000 + i));
    outsider.service.announce(blue, 7000);
    await waitFor(() => reds.every((n) => new Set(n.peers.map((p) => p.endpoint.port)).size === 2), 'every red node to see the other two');
    for (const [i, n] of reds.entries()) {
      const ports = n.peers.map((p) => p.endpoint.port).sort();
      expect(ports).to.deep.equal([6000, 6001, 6002].filter((p) => p !== 6000 + i));
      expect(n.peers.every((p) => p.networkId.equals(red))).to.equal(true);
    }
    expect(outsider.peers).to.deep.equal([]);
    expect(outsider.service.stats.queriesIgnored).to.be.greaterThan(0);
    expect(outsider.service.stats.answersSent).to.equal(0);
  });

  it('re-queries with a back-off and does not report a peer twice within the window', async () => {
    const net = networkIdOf('dedupe');
    const a = await node({ queryIntervalMinMs: 40, queryIntervalMaxMs: 80 });
    const b = await node({ queryIntervalMinMs: 40, queryIntervalMaxMs: 80 });
    a.service.announce(net, 5101);
    b.service.announce(net, 5102);
    await waitFor(() => a.service.stats.lookups >= 5, 'five query rounds');
    await waitFor(() => a.service.stats.duplicatePeers >= 2, 'repeated answers to be suppressed');
    expect(a.peers.length).to.equal(1);
    expect(a.service.stats.peersFound).to.equal(1);
    expect(a.service.stats.ownQueries).to.be.greaterThan(0);
  });

  it('sends nothing on the wire that contains the network ID', async () => {
    const net = randomBytes(20);
    const sniffer = await raw(port, true, '0.0.0.0'); // shares the LAN port: hears every broadcast query
    const a = await node();
    a.service.announce(net, 5201);
    await waitFor(() => sniffer.heard.length >= 1, 'a query on the wire');
    // Ask the node for an answer as a member would, and look at that too.
    const member = await raw();
    const key = deriveLanKey(net);
    await member.send(encodeQuery(key, { timestamp: Date.now(), challenge: randomBytes(32) }), port);
    await waitFor(() => member.heard.length >= 1, 'an answer');
    for (const { msg } of [...sniffer.heard, ...member.heard]) {
      expect(msg.indexOf(net)).to.equal(-1);
      expect(msg.indexOf(key)).to.equal(-1);
      expect(msg.length === 74 || msg.length === 84).to.equal(true);
    }
    const answer = decodePacket(member.heard[0]!.msg);
    expect(answer.type).to.equal('response');
    if (answer.type === 'response') expect(answer.servicePort).to.equal(5201);
  });

  it('ignores spoofed responses with a bad MAC and counts them', async () => {
    const net = networkIdOf('spoof');
    const sniffer = await raw(port, true, '0.0.0.0');
    const a = await node({ queryValidityMs: 5000 });
    a.service.announce(net, 5301);
    await waitFor(() => sniffer.heard.length >= 1, 'a query to spoof');
    const { msg, rinfo } = sniffer.heard[0]!;
    const query = decodePacket(msg);
    const attacker = await raw();
    const wrongKey = deriveLanKey(networkIdOf('guess'));
    const forged = encodeResponse(wrongKey, { servicePort: 6666, challenge: query.challenge });
    await attacker.send(forged, rinfo.port);
    const garbledMac = encodeResponse(deriveLanKey(net), { servicePort: 6666, challenge: query.challenge });
    garbledMac[garbledMac.length - 1]! ^= 1;
    await attacker.send(garbledMac, rinfo.port);
    // A right MAC on a challenge the node never sent: unexpected.
    await attacker.send(encodeResponse(deriveLanKey(net), { servicePort: 6666, challenge: randomBytes(32) }), rinfo.port);
    await waitFor(() => a.service.stats.badMacs >= 2 && a.service.stats.unexpectedResponses >= 1, 'forgeries to be counted');
    expect(a.peers).to.deep.equal([]);
  });

  it('fuzz: mutated responses to a live query never report a peer', async () => {
    const net = networkIdOf('fuzz responses');
    const sniffer = await raw(port, true, '0.0.0.0');
    const a = await node({ queryValidityMs: 10_000, queryIntervalMinMs: 10_000, queryIntervalMaxMs: 10_000 });
    a.service.announce(net, 5351);
    await waitFor(() => sniffer.heard.length >= 1, 'a query');
    const { msg, rinfo } = sniffer.heard[0]!;
    const valid = encodeResponse(deriveLanKey(net), { servicePort: 5352, challenge: decodePacket(msg).challenge });
    const attacker = await raw();
    const cases = 1000;
    for (let i = 0; i < cases; i += 1) {
      const copy = Buffer.from(valid);
      // Flip 1-4 bytes anywhere except that every 10th case also cuts or extends the datagram.
      for (let f = 0; f <= i % 4; f += 1) copy[(i * 31 + f * 17) % copy.length]! ^= 1 + ((i + f) % 255);
      const datagram = i % 10 === 0 ? copy.subarray(0, i % copy.length) : i % 10 === 5 ? Buffer.concat([copy, Buffer.from([i & 0xff])]) : copy;
      await attacker.send(datagram, rinfo.port);
      if (i % 100 === 99) {
        const target = i + 1;
        const s = a.service.stats;
        await waitFor(() => s.badPackets + s.badMacs + s.unexpectedResponses + s.packetsDropped >= target, `fuzz batch ${target}`);
      }
    }
    const s = a.service.stats;
    expect(s.badPackets + s.badMacs + s.unexpectedResponses + s.packetsDropped).to.equal(cases);
    expect(s.badMacs).to.be.greaterThan(0);
    expect(a.peers).to.deep.equal([]);
    // The authentic response still works afterwards.
    await attacker.send(valid, rinfo.port);
    await waitFor(() => a.peers.length === 1, 'the authentic response to be accepted');
  });

  it('accepts an authentic response once and counts its replay', async () => {
    const net = networkIdOf('replayed answer');
    const sniffer = await raw(port, true, '0.0.0.0');
    const a = await node({ queryValidityMs: 5000 });
    a.service.announce(net, 5401);
    await waitFor(() => sniffer.heard.length >= 1, 'a query');
    const { msg, rinfo } = sniffer.heard[0]!;
    const response = encodeResponse(deriveLanKey(net), { servicePort: 5402, challenge: decodePacket(msg).challenge });
    const member = await raw();
    await member.send(response, rinfo.port);
    await waitFor(() => a.peers.length === 1, 'the member to be found');
    const copier = await raw(0, false, '127.0.0.2'); // an eavesdropper re-sends the copy from another address
    await copier.send(response, rinfo.port);
    await waitFor(() => a.service.stats.replays >= 1, 'the replay to be counted');
    expect(a.peers).to.have.length(1);
    expect(a.peers[0]!.endpoint).to.deep.equal({ host: '127.0.0.1', port: 5402 });
  });

  it('does not answer a replayed or stale query', async () => {
    const net = networkIdOf('replayed query');
    const b = await node();
    b.service.announce(net, 5501);
    const key = deriveLanKey(net);
    const member = await raw();
    const query = encodeQuery(key, { timestamp: Date.now(), challenge: randomBytes(32) });
    await member.send(query, port);
    await waitFor(() => member.heard.length === 1, 'one answer');
    await member.send(query, port);
    await waitFor(() => b.service.stats.replays === 1, 'the replay to be counted');
    await member.send(encodeQuery(key, { timestamp: Date.now() - 3_600_000, challenge: randomBytes(32) }), port);
    await waitFor(() => b.service.stats.staleQueries === 1, 'the stale query to be counted');
    await sleep(30);
    expect(member.heard).to.have.length(1);
  });

  it('rate-limits answers per source', async () => {
    const net = networkIdOf('rate');
    const b = await node({ maxAnswersPerSourcePerSecond: 3 });
    b.service.announce(net, 5601);
    const key = deriveLanKey(net);
    const member = await raw();
    for (let i = 0; i < 12; i += 1) await member.send(encodeQuery(key, { timestamp: Date.now(), challenge: randomBytes(32) }), port);
    await waitFor(() => b.service.stats.answersSent + b.service.stats.answersRateLimited >= 12, 'all queries to be judged');
    expect(b.service.stats.answersSent).to.be.within(3, 4); // 3 in the burst, at most one refilled
    expect(b.service.stats.answersRateLimited).to.be.within(8, 9);
  });

  it('stops answering and querying after withdraw', async () => {
    const net = networkIdOf('withdrawn');
    const b = await node();
    b.service.announce(net, 5701);
    expect(b.service.withdraw(net)).to.equal(true);
    expect(b.service.withdraw(net)).to.equal(false);
    const lookups = b.service.stats.lookups;
    const member = await raw();
    await member.send(encodeQuery(deriveLanKey(net), { timestamp: Date.now(), challenge: randomBytes(32) }), port);
    await waitFor(() => b.service.stats.queriesIgnored >= 1, 'the query to be ignored');
    await sleep(250);
    expect(member.heard).to.deep.equal([]);
    expect(b.service.stats.lookups).to.equal(lookups);
    expect(b.service.announced()).to.deep.equal([]);
  });

  it('works over IPv6 on ::1 (unicast stands in for multicast, which loopback cannot carry)', async () => {
    const net = networkIdOf('ipv6');
    const v6 = { ipv4: false, ipv6: true, broadcastAddresses: [], ipv6Targets: ['::1'] };
    const a = await node({ ...v6, bindAddress6: '::' });
    // Bound to ::1, b's listener is the most specific socket on the port: unicast queries reach it.
    const b = await node({ ...v6, bindAddress6: '::1' });
    b.service.announce(net, 6501);
    a.service.announce(net, 6502);
    await waitFor(() => a.peers.length === 1, 'a to find b over IPv6');
    expect(a.peers[0]!.endpoint).to.deep.equal({ host: '::1', port: 6501 });
    expect(a.service.addresses().listener4).to.equal(undefined);
    expect(a.service.addresses().sender6).to.be.a('number');
    expect(b.service.stats.answersSent).to.be.greaterThan(0);
  });

  it('counts malformed datagrams, survives a flood, and still works after', async () => {
    const net = networkIdOf('flood');
    const b = await node({ maxPacketsPerSecond: 500 });
    b.service.announce(net, 5801);
    const attacker = await raw();
    const sent = 3000;
    const { stats } = b.service;
    // In batches, each read before the next: a loopback receive buffer holds a few hundred datagrams.
    for (let i = 0; i < sent; i += 1) {
      const junk = randomBytes(i % 120);
      if (i % 3 === 0 && junk.length > 2) {
        junk[0] = 5;
        junk[1] = 1;
      }
      await attacker.send(junk, port);
      if (i % 100 === 99) {
        const target = i + 1;
        await waitFor(() => stats.badPackets + stats.packetsDropped >= target, `batch ${target} to be counted`);
      }
    }
    expect(stats.packetsDropped).to.be.greaterThan(0);
    expect(stats.badPackets).to.be.greaterThan(0);
    expect(stats.badPackets + stats.packetsDropped).to.be.at.most(sent + stats.queriesSent);
    await sleep(1100); // let the inbound bucket refill
    const a = await node();
    a.service.announce(net, 5802);
    await waitFor(() => a.peers.length === 1 && b.peers.length === 1, 'discovery after the flood');
  });

  it('answers through a socket shared by the querier and an idle node (SO_REUSEADDR)', async () => {
    const net = networkIdOf('reuse');
    const idle = await node();
    const a = await node();
    const b = await node();
    a.service.announce(net, 5901);
    b.service.announce(net, 5902);
    await waitFor(() => a.peers.length === 1 && b.peers.length === 1, 'discovery with three listeners on one port');
    expect(idle.service.stats.queriesIgnored).to.be.greaterThan(0);
    const ports = new Set(nodes.map((n) => n.service.addresses().listener4));
    expect([...ports]).to.deep.equal([port]);
  });

  it('finds broadcast targets from the interface list and re-queries when it changes', async () => {
    const net = networkIdOf('interfaces');
    const base = { mac: '00:00:00:00:00:00', cidr: null, internal: false };
    let interfaces: NodeJS.Dict<import('node:os').NetworkInterfaceInfo[]> = {
      // A fake interface whose broadcast address is loopback's: the auto path, kept on this machine.
      fake0: [{ ...base, address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4' }],
    };
    const options = loopbackOptions(port, { broadcastAddresses: [], interfaceCheckIntervalMs: 50, queryIntervalMaxMs: 60_000 });
    const make = (): TestNode => {
      const n = makeNode(options, { networkInterfaces: () => interfaces });
      nodes.push(n);
      return n;
    };
    const a = make();
    const b = make();
    await a.service.start();
    await b.service.start();
    expect(a.service.targets().ipv4).to.deep.equal(['127.255.255.255']);
    a.service.announce(net, 6101);
    b.service.announce(net, 6102);
    await waitFor(() => a.peers.length === 1 && b.peers.length === 1, 'discovery by interface broadcast');
    await sleep(100);
    const before = a.service.stats.lookups;
    interfaces = {
      ...interfaces,
      fake1: [{ ...base, address: '127.1.2.3', netmask: '255.255.0.0', family: 'IPv4' }],
    };
    await waitFor(() => a.service.targets().ipv4.length === 2, 'the new interface to be seen');
    expect(a.service.targets().ipv4).to.deep.equal(['127.1.255.255', '127.255.255.255']);
    await waitFor(() => a.service.stats.lookups > before, 'an immediate query on the new interface');
  });

  it('refuses non-loopback destinations with loopbackOnly', async () => {
    // 0.0.0.0 is delivered locally by Linux even if the guard failed: the test itself stays on this machine.
    const a = makeNode(loopbackOptions(port, { broadcastAddresses: ['0.0.0.0'] }));
    a.service.announce(networkIdOf('guard'), 6201);
    await a.service.start();
    await waitFor(() => a.service.stats.sendsBlocked >= 1, 'the send to be refused');
    expect(a.service.stats.queriesSent).to.equal(0);
    expect(a.logger.warnings.some((w) => w.includes('loopbackOnly'))).to.equal(true);
    await a.service.stop();
  });

  it('degrades with a warning when its port is taken without SO_REUSEADDR', async () => {
    const squatter = await raw(port, false, '0.0.0.0');
    const a = await node();
    expect(a.service.isRunning).to.equal(true);
    expect(a.service.addresses().listener4).to.equal(undefined);
    expect(a.service.addresses().sender4).to.be.a('number');
    expect(a.service.stats.errors).to.be.greaterThan(0);
    expect(a.logger.warnings.some((w) => w.includes('continuing without it'))).to.equal(true);
    a.service.announce(networkIdOf('degraded'), 6301);
    await waitFor(() => squatter.heard.length >= 1, 'queries still sent');
  });

  it('validates its arguments', () => {
    const n = makeNode(loopbackOptions(port));
    expect(() => n.service.announce(Buffer.alloc(19), 1)).to.throw(/20 bytes/);
    expect(() => n.service.announce(networkIdOf('x'), 0)).to.throw(/1\.\.65535/);
    expect(() => makeNode({ queryIntervalMinMs: 0 })).to.throw(/positive/);
    expect(() => makeNode({ port: 70000 })).to.throw(/1\.\.65535/);
  });

  it('leaves no socket or timer behind after stop, and can start again', async () => {
    const resources = (): Record<string, number> => {
      const counts: Record<string, number> = {};
      for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
      return counts;
    };
    const net = networkIdOf('lifecycle');
    await sleep(20); // sockets closed by the previous test release their handles a tick later
    const before = resources();
    const a = makeNode(loopbackOptions(port, { interfaceCheckIntervalMs: 20, broadcastAddresses: [] }), { networkInterfaces: () => ({}) });
    a.service.announce(net, 6401);
    for (let round = 0; round < 2; round += 1) {
      await a.service.start();
      const during = resources();
      expect(during['UDPWrap'] ?? 0).to.equal((before['UDPWrap'] ?? 0) + 2);
      expect(during['Timeout'] ?? 0).to.be.greaterThan(before['Timeout'] ?? 0);
      await a.service.stop();
      await sleep(5);
      expect(resources()['UDPWrap'] ?? 0).to.be.at.most(before['UDPWrap'] ?? 0);
      expect(resources()['Timeout'] ?? 0).to.be.at.most(before['Timeout'] ?? 0);
    }
    expect(a.service.isRunning).to.equal(false);
  });
});
