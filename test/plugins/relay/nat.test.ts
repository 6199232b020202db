/**
 * Real NAT: network namespaces made by this test put a peer behind an nftables
 * masquerade; the relay and a member sit on the "public" side. The NATed peer finds
 * its port unreachable, registers with the relay, and the member reaches it only
 * through the relay, over a SecureChannel. Everything the test creates (namespaces,
 * veth pairs, nft table, processes) is removed at the end; traffic stays inside the
 * namespaces. Skipped, with the reason, where namespaces cannot be made (not root,
 * no `ip`/`nft`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

const SCRIPT = fileURLToPath(new URL('./netns-node.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PUB_IP = '192.0.2.2';
const ROUTER_PUB_IP = '192.0.2.1';

function sh(args: string[]): { ok: boolean; err: string } {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8', timeout: 10_000 });
  return { ok: r.status === 0, err: `${r.stderr ?? ''}${r.error?.message ?? ''}` };
}

function must(args: string[]): void {
  const r = sh(args);
  if (!r.ok) throw new Error(`${args.join(' ')}: ${r.err.trim()}`);
}

/** Why namespaces cannot be used here, or null. */
function cannotNetns(): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root (ip netns needs CAP_SYS_ADMIN / CAP_NET_ADMIN)';
  for (const tool of [['ip', '-V'], ['nft', '--version']]) if (!sh(tool).ok) return `\`${tool[0]}\` is not available`;
  const probe = `bcr-probe-${process.pid}`;
  const made = sh(['ip', 'netns', 'add', probe]);
  if (!made.ok) return `cannot create a network namespace: ${made.err.trim()}`;
  sh(['ip', 'netns', 'del', probe]);
  return null;
}

/** Lines a child prints, awaited by prefix. */
class Child {
  readonly proc: ChildProcess;
  private out = '';
  private waiters: Array<() => void> = [];

  constructor(ns: string, args: string[]) {
    this.proc = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', SCRIPT, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (d) => {
      this.out += d;
      for (const w of this.waiters.splice(0)) w();
    });
    this.proc.stderr!.on('data', (d) => {
      this.out += `stderr: ${d}`;
    });
    this.proc.once('exit', () => {
      for (const w of this.waiters.splice(0)) w();
    });
  }

  async line(prefix: string, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 10_000; i++) {
      const found = this.out.split('\n').find((l) => l.startsWith(prefix + ' '));
      if (found) return found.slice(prefix.length + 1);
      const error = this.out.split('\n').find((l) => l.startsWith('error '));
      if (error) throw new Error(`child failed: ${error}`);
      if (this.proc.exitCode !== null || Date.now() > deadline) throw new Error(`no "${prefix}" line; output:\n${this.out}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 500);
        this.waiters.push(() => (clearTimeout(t), r()));
      });
    }
    throw new Error('unreachable');
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.stdin!.end();
    const killer = setTimeout(() => this.proc.kill('SIGKILL'), 8_000);
    await exited;
    clearTimeout(killer);
  }
}

describe('plugins/relay through a real NAT (network namespaces)', function () {
  this.timeout(90_000);
  const tag = randomBytes(2).toString('hex');
  const ns = { nat: `bcr-${tag}-nat`, rtr: `bcr-${tag}-rtr`, pub: `bcr-${tag}-pub` };
  const veth = { nat: `bn${tag}n`, rtrNat: `bn${tag}rn`, pub: `bn${tag}p`, rtrPub: `bn${tag}rp` };
  const children: Child[] = [];

  before(function () {
    const why = cannotNetns();
    if (why) {
      // eslint-disable-next-line no-console
      console.log(`      skipped: real-NAT relay test needs network namespaces: ${why}`);
      this.skip();
    }
  });

  after(async () => {
    for (const c of children.splice(0)) await c.stop();
    for (const name of Object.values(ns)) sh(['ip', 'netns', 'del', name]);
    // Left in the root namespace only if setup failed half-way.
    for (const name of Object.values(veth)) sh(['ip', 'link', 'del', name]);
  });

  it('the NATed peer is reached only through the relay, end to end encrypted', async () => {
    for (const name of Object.values(ns)) must(['ip', 'netns', 'add', name]);
    must(['ip', 'link', 'add', veth.nat, 'type', 'veth', 'peer', 'name', veth.rtrNat]);
    must(['ip', 'link', 'add', veth.pub, 'type', 'veth', 'peer', 'name', veth.rtrPub]);
    must(['ip', 'link', 'set', veth.nat, 'netns', ns.nat]);
    must(['ip', 'link', 'set', veth.rtrNat, 'netns', ns.rtr]);
    must(['ip', 'link', 'set', veth.pub, 'netns', ns.pub]);
    must(['ip', 'link', 'set', veth.rtrPub, 'netns', ns.rtr]);
    const inNs = (name: string, ...args: string[]): void => must(['ip', 'netns', 'exec', name, ...args]);
    for (const name of Object.values(ns)) inNs(name, 'ip', 'link', 'set', 'lo', 'up');
    inNs(ns.nat, 'ip', 'addr', 'add', '10.77.0.2/24', 'dev', veth.nat);
    inNs(ns.nat, 'ip', 'link', 'set', veth.nat, 'up');
    inNs(ns.nat, 'ip', 'route', 'add', 'default', 'via', '10.77.0.1');
    inNs(ns.rtr, 'ip', 'addr', 'add', '10.77.0.1/24', 'dev', veth.rtrNat);
    inNs(ns.rtr, 'ip', 'addr', 'add', `${ROUTER_PUB_IP}/24`, 'dev', veth.rtrPub);
    inNs(ns.rtr, 'ip', 'link', 'set', veth.rtrNat, 'up');
    inNs(ns.rtr, 'ip', 'link', 'set', veth.rtrPub, 'up');
    inNs(ns.rtr, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    inNs(ns.rtr, 'nft', `add table ip nat; add chain ip nat post { type nat hook postrouting priority 100 ; } ; add rule ip nat post oifname "${veth.rtrPub}" masquerade`);
    inNs(ns.pub, 'ip', 'addr', 'add', `${PUB_IP}/24`, 'dev', veth.pub);
    inNs(ns.pub, 'ip', 'link', 'set', veth.pub, 'up');
    // No route from pub to 10.77.0.0/24: only the masquerade connects the two sides.

    const networkHex = randomBytes(20).toString('hex');
    const pub = new Child(ns.pub, ['pub', networkHex, PUB_IP]);
    children.push(pub);
    const bootstrap = await pub.line('ready');
    const nat = new Child(ns.nat, ['nat', networkHex, bootstrap]);
    children.push(nat);
    const relayed = JSON.parse(await nat.line('relayed')) as { relays: Array<{ host: string }>; reachability: string };
    expect(relayed.reachability).to.equal('unreachable');
    expect(relayed.relays[0]!.host).to.equal(PUB_IP);
    pub.proc.stdin!.write('go\n');
    const ok = JSON.parse(await pub.line('ok')) as { target: { host: string }; virtual: boolean; directReachable: boolean; echoed: boolean; tunnelsRelayed: number };
    // The relay saw the peer as the NAT's public address, which does not reach it.
    expect(ok.target.host).to.equal(ROUTER_PUB_IP);
    expect(ok.directReachable).to.equal(false);
    expect(ok.virtual).to.equal(true);
    expect(ok.echoed).to.equal(true);
    expect(ok.tunnelsRelayed).to.be.greaterThan(0);
  });
});
