/**
 * A network namespace whose only way out is one TCP port on the host side of
 * a veth pair, with nftables counters for everything else it sends. Files in
 * /etc/netns/<name>/ replace /etc/resolv.conf and /etc/hosts for processes
 * started with `ip netns exec`: the resolver points out of the namespace and
 * the hosts file is empty, so any local name lookup becomes a counted packet.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findBinary } from '../../helpers/proxy-servers.js';

const RUN_TIMEOUT_MS = 30_000;

export interface LeakCounters {
  allowed: number;
  leakedUdp: number;
  leakedOther: number;
}

export interface LeakNamespace {
  name: string;
  hostAddress: string;
  namespaceAddress: string;
  subnet: string;
  /** Allows TCP from the namespace to hostAddress:port only (call once, before counting). */
  allowOnly(port: number): void;
  counters(): LeakCounters;
  resetCounters(): void;
  /** Runs a command inside the namespace; resolves with its exit code and output. */
  exec(command: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
  destroy(): void;
}

function run(command: string, args: string[], input?: string): string {
  const result = spawnSync(command, args, { input, encoding: 'utf8', timeout: 10_000 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr || result.error?.message}`);
  return result.stdout;
}

/** Why the leak test cannot run here, or undefined when it can. */
export function leakTestUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (ip netns, nftables)';
  if (findBinary('ip') === undefined) return 'needs iproute2 (ip)';
  if (findBinary('nft') === undefined) return 'needs nftables (apt-get install -y nftables)';
  return undefined;
}

export function createLeakNamespace(): LeakNamespace {
  const id = randomBytes(3).toString('hex');
  const name = `bcleak-${id}`;
  const hostIf = `bclh${id}`;
  const nsIf = `bcln${id}`;
  const octet = randomInt(0, 256);
  const hostAddress = `10.213.${octet}.1`;
  const namespaceAddress = `10.213.${octet}.2`;
  const subnet = `10.213.${octet}.0/30`;
  const etcDir = join('/etc/netns', name);

  const destroy = (): void => {
    spawnSync('ip', ['netns', 'del', name]);
    // Deleting the namespace removes its veth end, and with it the pair; this is a backstop.
    spawnSync('ip', ['link', 'del', hostIf]);
    rmSync(etcDir, { recursive: true, force: true });
  };

  try {
    run('ip', ['netns', 'add', name]);
    // No IPv6: the kernel's own router solicitations would otherwise be counted.
    spawnSync('ip', ['netns', 'exec', name, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    run('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf]);
    run('ip', ['link', 'set', nsIf, 'netns', name]);
    run('ip', ['addr', 'add', `${hostAddress}/30`, 'dev', hostIf]);
    run('ip', ['link', 'set', hostIf, 'up']);
    run('ip', ['-n', name, 'addr', 'add', `${namespaceAddress}/30`, 'dev', nsIf]);
    run('ip', ['-n', name, 'link', 'set', nsIf, 'up']);
    run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    // A default route, so a stray packet to anywhere is sent (and counted) rather than refused locally.
    run('ip', ['-n', name, 'route', 'add', 'default', 'via', hostAddress]);
    mkdirSync(etcDir, { recursive: true });
    writeFileSync(join(etcDir, 'resolv.conf'), `nameserver ${hostAddress}\n`);
    writeFileSync(join(etcDir, 'hosts'), '');
  } catch (err) {
    destroy();
    throw err;
  }

  const counter = (listing: string, counterName: string): number => {
    const match = new RegExp(`counter ${counterName} \\{\\s*packets (\\d+)`).exec(listing);
    if (match === null) throw new Error(`nft counter ${counterName} not found in:\n${listing}`);
    return Number(match[1]);
  };

  return {
    name,
    hostAddress,
    namespaceAddress,
    subnet,
    allowOnly(port: number) {
      const ruleset = [
        'table inet bitchat_leak {',
        '  counter allowed {}',
        '  counter leaked_udp {}',
        '  counter leaked_other {}',
        '  chain out {',
        '    type filter hook output priority 0; policy accept;',
        '    oif "lo" accept',
        `    ip daddr ${hostAddress} tcp dport ${port} counter name "allowed" accept`,
        '    meta l4proto udp counter name "leaked_udp" drop',
        '    counter name "leaked_other" drop',
        '  }',
        '}',
        '',
      ].join('\n');
      run('ip', ['netns', 'exec', name, 'nft', '-f', '-'], ruleset);
    },
    counters() {
      const listing = run('ip', ['netns', 'exec', name, 'nft', 'list', 'counters']);
      return { allowed: counter(listing, 'allowed'), leakedUdp: counter(listing, 'leaked_udp'), leakedOther: counter(listing, 'leaked_other') };
    },
    resetCounters() {
      run('ip', ['netns', 'exec', name, 'nft', 'reset', 'counters']);
    },
    exec(command: string, args: string[]) {
      return new Promise((resolve, reject) => {
        const child = spawn('ip', ['netns', 'exec', name, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
        child.once('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
        child.once('close', (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
      });
    },
    destroy,
  };
}
