/**
 * A LAN discovery node run inside a network namespace by netns.test.ts. It uses the
 * plugin's defaults (port 41733, every interface's broadcast address, ff12::1 on every
 * IPv6 interface): the namespace's only other interface is a veth to the peer namespace,
 * so nothing can leave the pair. Prints one JSON line per peer, then a final stats line.
 *
 * argv: networkIdHex servicePort wantIpv4 wantIpv6 timeoutMs
 */
import { LanDiscovery } from '../../../plugins/lan-discovery/service.js';

const [networkIdHex, servicePort, wantIpv4, wantIpv6, timeoutMs] = process.argv.slice(2);
const found: { host: string; port: number }[] = [];
const warnings: string[] = [];
const service = new LanDiscovery(
  { queryIntervalMinMs: 200, queryIntervalMaxMs: 1_000, interfaceCheckIntervalMs: 500 },
  {
    logger: { warn: (_o, msg) => warnings.push(msg ?? ''), debug: () => {} },
    onPeer: (_id, endpoint) => {
      found.push(endpoint);
      process.stdout.write(`${JSON.stringify({ peer: endpoint })}\n`);
    },
  },
);

const done = (): boolean =>
  (wantIpv4 !== '1' || found.some((p) => !p.host.includes(':'))) && (wantIpv6 !== '1' || found.some((p) => p.host.includes(':')));

await service.start();
service.announce(Buffer.from(networkIdHex!, 'hex'), Number(servicePort));
const deadline = Date.now() + Number(timeoutMs);
while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
// Keep answering a moment so the peer, which may have started later, finds us too.
await new Promise((resolve) => setTimeout(resolve, 1_500));
await service.stop();
process.stdout.write(`${JSON.stringify({ targets: service.targets(), stats: service.stats, warnings })}\n`);
