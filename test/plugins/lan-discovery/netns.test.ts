/**
 * Two LAN discovery nodes in two network namespaces joined by a veth pair: real IPv4
 * broadcast and IPv6 link-local multicast (ff12::1) with the default options, interfaces
 * found by the plugin itself. Needs root and iproute2; skipped with the reason otherwise.
 * The namespaces are deleted afterwards (which also deletes the veth pair).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';

const run = promisify(execFile);
const NODE_SCRIPT = fileURLToPath(new URL('./netns-node.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

async function ip(...args: string[]): Promise<void> {
  await run('ip', args, { timeout: 5_000 });
}

async function inNs(ns: string, ...args: string[]): Promise<string> {
  const { stdout } = await run('ip', ['netns', 'exec', ns, ...args], { timeout: 5_000 });
  return stdout;
}

/**
 * libuv lists only running interfaces, and a tentative IPv6 address cannot send: wait
 * (bounded) until the veth has carrier and a usable link-local address.
 */
async function waitLinkReady(ns: string, dev: string): Promise<void> {
  for (let i = 0; i < 100; i += 1) {
    const link = await inNs(ns, 'ip', '-o', 'link', 'show', 'dev', dev);
    const addrs = await inNs(ns, 'ip', '-o', 'addr', 'show', 'dev', dev);
    if (!link.includes('NO-CARRIER') && /inet6 fe80/.test(addrs) && !addrs.includes('tentative')) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${dev} in ${ns} did not come up`);
}

interface NodeOutput {
  peers: { host: string; port: number }[];
  final: { targets: { ipv4: string[]; ipv6: string[] }; stats: Record<string, number>; warnings: string[] } | undefined;
}

function runNode(ns: string, args: string[], children: ChildProcess[]): Promise<NodeOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', NODE_SCRIPT, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`node in ${ns} exited with ${code}: ${err.slice(0, 2000)}`));
      const lines = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({
        peers: lines.filter((l) => l.peer !== undefined).map((l) => l.peer as { host: string; port: number }),
        final: lines.find((l) => l.stats !== undefined) as NodeOutput['final'],
      });
    });
  });
}

describe('lan-discovery between two network namespaces (veth pair)', function () {
  this.timeout(30_000);
  const tag = randomBytes(3).toString('hex');
  const nsA = `bclan-${tag}-a`;
  const nsB = `bclan-${tag}-b`;
  const children: ChildProcess[] = [];
  let ready = false;
  let skipReason = '';

  before(async function () {
    if (process.getuid?.() !== 0) {
      skipReason = 'needs root for ip netns';
      process.stderr.write(`lan-discovery netns test skipped: ${skipReason}\n`);
      return this.skip();
    }
    try {
      await ip('netns', 'add', nsA);
      await ip('netns', 'add', nsB);
      await ip('link', 'add', `vla${tag}`, 'netns', nsA, 'type', 'veth', 'peer', 'name', `vlb${tag}`, 'netns', nsB);
      for (const [ns, dev, addr] of [
        [nsA, `vla${tag}`, '10.231.7.1/24'],
        [nsB, `vlb${tag}`, '10.231.7.2/24'],
      ] as const) {
        // Without DAD the link-local address is usable at once, not after ~1 s.
        await inNs(ns, 'sysctl', '-q', '-w', `net.ipv6.conf.${dev}.accept_dad=0`);
        await inNs(ns, 'ip', 'link', 'set', 'lo', 'up');
        await inNs(ns, 'ip', 'addr', 'add', addr, 'brd', '+', 'dev', dev);
        await inNs(ns, 'ip', 'link', 'set', dev, 'up');
      }
      await waitLinkReady(nsA, `vla${tag}`);
      await waitLinkReady(nsB, `vlb${tag}`);
      ready = true;
    } catch (err) {
      skipReason = `cannot build the namespaces: ${(err as Error).message}`;
      process.stderr.write(`lan-discovery netns test skipped: ${skipReason}\n`);
      this.skip();
    }
  });

  after(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    for (const ns of [nsA, nsB]) await ip('netns', 'del', ns).catch(() => undefined);
  });

  it('finds the peer by IPv4 broadcast and by IPv6 multicast on the default port', async function () {
    if (!ready) this.skip();
    const networkId = randomBytes(20).toString('hex');
    const [a, b] = await Promise.all([
      runNode(nsA, [networkId, '7001', '1', '1', '10000'], children),
      runNode(nsB, [networkId, '7002', '1', '1', '10000'], children),
    ]);
    expect(a.final?.targets.ipv4).to.deep.equal(['10.231.7.255']);
    expect(a.final?.targets.ipv6).to.deep.equal([`ff12::1%vla${tag}`]);
    expect(a.peers).to.deep.include({ host: '10.231.7.2', port: 7002 });
    expect(b.peers).to.deep.include({ host: '10.231.7.1', port: 7001 });
    const v6a = a.peers.filter((p) => p.host.includes(':'));
    const v6b = b.peers.filter((p) => p.host.includes(':'));
    expect(v6a.length, `IPv6 peers of a: ${JSON.stringify(a.peers)}; warnings ${a.final?.warnings}`).to.be.greaterThan(0);
    expect(v6b.length).to.be.greaterThan(0);
    expect(v6a[0]!.host).to.match(/^fe80:.*%vla/);
    expect(v6a[0]!.port).to.equal(7002);
    expect(a.final?.stats.badMacs).to.equal(0);
    expect(a.final?.stats.errors, `warnings: ${a.final?.warnings}`).to.equal(0);
  });
});
