/**
 * Real proxy servers for tests: Debian's `danted` (SOCKS5) and `tinyproxy`
 * (HTTP CONNECT), each started on 127.0.0.1 with a generated config in its own
 * temp folder, on a free port, and stopped with its whole process group.
 * Plus the small TCP servers the proxy tests talk to (echo, silent, fixed reply).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const READY_TIMEOUT_MS = 8000;
const READY_POLL_MS = 25;
const STOP_GRACE_MS = 2000;
const MAX_LOG_CHARS = 64 * 1024;
/** The system account dante checks `username` auth against (it has no user file of its own). */
export const DANTE_TEST_USER = 'bitchat-pxtest';

const SEARCH_PATH = ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin'];

/** Absolute path of an installed binary, or undefined. */
export function findBinary(name: string): string | undefined {
  for (const dir of SEARCH_PATH) {
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

export const DANTED_PATH = findBinary('danted');
export const TINYPROXY_PATH = findBinary('tinyproxy');

/** Skips the calling suite or test, saying what to install, when `binary` is missing. */
export function skipWithout(ctx: Mocha.Context, binary: 'danted' | 'tinyproxy'): void {
  const path = binary === 'danted' ? DANTED_PATH : TINYPROXY_PATH;
  if (path === undefined) {
    const pkg = binary === 'danted' ? 'dante-server' : 'tinyproxy';
    // eslint-disable-next-line no-console
    console.log(`      skipped: ${binary} not installed (apt-get install -y ${pkg})`);
    ctx.skip();
  }
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface RunningProxy {
  type: 'socks5' | 'http';
  host: string;
  port: number;
  username?: string;
  password?: string;
  /** What the server wrote to stdout/stderr so far (bounded). */
  log(): string;
  stop(): Promise<void>;
}

interface ManagedProcess {
  child: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

/** Spawns `command` in its own process group; resolves once `port` accepts TCP. */
async function startManaged(command: string, args: string[], host: string, port: number, workDir: string): Promise<ManagedProcess> {
  let output = '';
  const child = spawn(command, args, { cwd: workDir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const append = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-MAX_LOG_CHARS);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', () => {
      exited = true;
      resolve();
    });
  });

  const killGroup = (signal: NodeJS.Signals): void => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
  };
  const stop = async (): Promise<void> => {
    if (!exited) {
      killGroup('SIGTERM');
      const timer = setTimeout(() => killGroup('SIGKILL'), STOP_GRACE_MS);
      await exitedPromise;
      clearTimeout(timer);
    }
    // Children of the group (dante's workers) may outlive the parent briefly.
    killGroup('SIGKILL');
    child.stdout?.destroy();
    child.stderr?.destroy();
    rmSync(workDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`${command} exited before listening:\n${output}`);
    }
    if (await canConnect(host, port)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${command} did not listen on ${port} within ${READY_TIMEOUT_MS} ms:\n${output}`);
    }
    await delay(READY_POLL_MS);
  }
  return { child, log: () => output, stop };
}

/** Creates (or re-passwords) the system account dante authenticates against. Root only. */
function ensureDanteUser(password: string): void {
  const exists = spawnSync('id', [DANTE_TEST_USER]).status === 0;
  if (!exists) {
    const made = spawnSync('useradd', ['-M', '-s', '/usr/sbin/nologin', DANTE_TEST_USER]);
    if (made.status !== 0) throw new Error(`useradd failed: ${made.stderr.toString()}`);
  }
  const set = spawnSync('chpasswd', [], { input: `${DANTE_TEST_USER}:${password}\n` });
  if (set.status !== 0) throw new Error(`chpasswd failed: ${set.stderr.toString()}`);
}

function removeDanteUser(): void {
  spawnSync('userdel', [DANTE_TEST_USER]);
}

/** True when dante username auth can be tested here (root, useradd available). */
export function canTestDanteAuth(): boolean {
  return process.getuid?.() === 0 && findBinary('useradd') !== undefined && findBinary('chpasswd') !== undefined;
}

export interface DanteOptions {
  /** Require RFC 1929 username/password (creates a system user; root only). */
  auth?: boolean;
  /** Destination ports on 127.0.0.1 the proxy must refuse (SOCKS reply 2). */
  blockPorts?: number[];
  /** Log at debug level 1 (shows requested host names). */
  debug?: boolean;
  /** Address dante listens on. @default '127.0.0.1' */
  listenHost?: string;
  /** Source networks allowed to use the proxy. @default ['127.0.0.0/8'] */
  clientNets?: string[];
  /** Address dante connects out from (another 127/8 address shows a server who came through it). @default '127.0.0.1' */
  externalHost?: string;
}

/** Starts danted. Call `stop()` in an `after` hook. */
export async function startDante(options: DanteOptions = {}): Promise<RunningProxy> {
  if (DANTED_PATH === undefined) throw new Error('danted is not installed (apt-get install -y dante-server)');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bitchat-dante-'));
  const listenHost = options.listenHost ?? '127.0.0.1';
  const clientNets = options.clientNets ?? ['127.0.0.0/8'];
  let password: string | undefined;
  if (options.auth) {
    password = randomBytes(12).toString('base64url');
    ensureDanteUser(password);
  }
  const lines = [
    'logoutput: stderr',
    ...(options.debug ? ['debug: 1'] : []),
    `internal: ${listenHost} port = ${port}`,
    `external: ${options.externalHost ?? '127.0.0.1'}`,
    'clientmethod: none',
    `socksmethod: ${options.auth ? 'username' : 'none'}`,
    'user.privileged: root',
    'user.unprivileged: nobody',
    ...clientNets.map((net) => `client pass { from: ${net} to: 0.0.0.0/0 log: error }`),
    ...(options.blockPorts ?? []).map((p) => `socks block { from: 0.0.0.0/0 to: 127.0.0.1/32 port = ${p} log: connect error }`),
    ...clientNets.map((net) => `socks pass { from: ${net} to: 127.0.0.0/8 log: connect error }`),
    '',
  ];
  const configPath = join(dir, 'danted.conf');
  writeFileSync(configPath, lines.join('\n'));
  let managed: ManagedProcess;
  try {
    managed = await startManaged(DANTED_PATH, ['-f', configPath, '-p', join(dir, 'danted.pid'), '-N', '1'], listenHost, port, dir);
  } catch (err) {
    if (options.auth) removeDanteUser();
    throw err;
  }
  return {
    type: 'socks5',
    host: listenHost,
    port,
    ...(options.auth ? { username: DANTE_TEST_USER, password } : {}),
    log: managed.log,
    stop: async () => {
      await managed.stop();
      if (options.auth) removeDanteUser();
    },
  };
}

export interface TinyproxyOptions {
  /** Require Basic auth with these credentials. */
  auth?: { username: string; password: string };
  /** Only these ports may be CONNECTed to (others get 403). Default: all. */
  connectPorts?: number[];
  /** Address tinyproxy connects out from (another 127/8 address shows a server who came through it). */
  bindHost?: string;
}

/** Starts tinyproxy in the foreground. Call `stop()` in an `after` hook. */
export async function startTinyproxy(options: TinyproxyOptions = {}): Promise<RunningProxy> {
  if (TINYPROXY_PATH === undefined) throw new Error('tinyproxy is not installed (apt-get install -y tinyproxy)');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bitchat-tinyproxy-'));
  const lines = [
    'User nobody',
    'Group nogroup',
    `Port ${port}`,
    'Listen 127.0.0.1',
    'Timeout 30',
    'LogLevel Connect',
    'MaxClients 64',
    'Allow 127.0.0.1',
    'DisableViaHeader Yes',
    ...(options.auth ? [`BasicAuth ${options.auth.username} ${options.auth.password}`] : []),
    ...(options.connectPorts ?? []).map((p) => `ConnectPort ${p}`),
    ...(options.bindHost ? [`Bind ${options.bindHost}`] : []),
    '',
  ];
  const configPath = join(dir, 'tinyproxy.conf');
  writeFileSync(configPath, lines.join('\n'));
  const managed = await startManaged(TINYPROXY_PATH, ['-d', '-c', configPath], '127.0.0.1', port, dir);
  return {
    type: 'http',
    host: '127.0.0.1',
    port,
    ...(options.auth ? { username: options.auth.username, password: options.auth.password } : {}),
    log: managed.log,
    stop: managed.stop,
  };
}

export interface TestServer {
  port: number;
  /** Sockets accepted so far. */
  accepted: number;
  stop(): Promise<void>;
}

/** Starts a TCP server on 127.0.0.1 and tracks its sockets so `stop` closes them all. */
export async function startTcpServer(onSocket: (socket: Socket) => void, host = '127.0.0.1'): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const state = { accepted: 0 };
  const server: Server = createServer((socket) => {
    state.accepted += 1;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => sockets.delete(socket));
    onSocket(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    get accepted() {
      return state.accepted;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Echoes every byte; with `greeting`, sends it first, as soon as a client connects. */
export function startEchoServer(greeting?: Buffer, host = '127.0.0.1'): Promise<TestServer> {
  return startTcpServer((socket) => {
    if (greeting) socket.write(greeting);
    socket.pipe(socket);
  }, host);
}

/** Accepts and never answers (a proxy that hangs). */
export function startSilentServer(): Promise<TestServer> {
  return startTcpServer(() => {});
}

/** Answers the first bytes it receives with `reply`, then closes or stays open. */
export function startFixedReplyServer(reply: Buffer, closeAfter: boolean): Promise<TestServer> {
  return startTcpServer((socket) => {
    socket.once('data', () => {
      if (closeAfter) socket.end(reply);
      else socket.write(reply);
    });
  });
}
