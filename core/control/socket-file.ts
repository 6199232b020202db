/**
 * Where the control socket lives and how its path is made safe: a folder
 * `control/` in the data folder, mode 0700 and owned by us, holding `node.sock`
 * (mode 0600). A socket file left by a crashed node is removed only when nothing
 * answers on it; anything that is not a socket is never removed.
 */
import { lstat, mkdir, chmod, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { ControlError, ControlErrorCode } from './errors.js';

export const CONTROL_DIR_NAME = 'control';
export const CONTROL_SOCKET_NAME = 'node.sock';
/** sun_path holds 108 bytes on Linux (104 on macOS), the final NUL included. */
export const MAX_SOCKET_PATH_BYTES = process.platform === 'darwin' ? 103 : 107;
/** How long a probe of an existing socket waits for the connection before calling it stale. */
const PROBE_TIMEOUT_MS = 1_000;

/** The control socket of the node whose data folder is `dataDir`. */
export function controlSocketPath(dataDir: string): string {
  return join(resolve(dataDir), CONTROL_DIR_NAME, CONTROL_SOCKET_NAME);
}

/** `unknown`: an error other than "nothing listens" (e.g. EACCES): the path is neither used nor removed. */
export type ProbeResult = 'answers' | 'refused' | 'absent' | 'unknown';

/** Does something accept connections on `path`? */
export function probeSocket(path: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<ProbeResult> {
  return new Promise((done) => {
    const socket = connect({ path });
    const finish = (result: ProbeResult): void => {
      clearTimeout(timer);
      socket.destroy();
      done(result);
    };
    // A listener whose process hangs still holds the path: do not steal it.
    const timer = setTimeout(() => finish('answers'), timeoutMs);
    socket.once('connect', () => finish('answers'));
    socket.once('error', (err: NodeJS.ErrnoException) => finish(err.code === 'ENOENT' || err.code === 'ENOTDIR' ? 'absent' : err.code === 'ECONNREFUSED' ? 'refused' : 'unknown'));
  });
}

const isMissing = (err: unknown): boolean => (err as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * Makes `path` ready to listen on: the folder exists, is a real folder of ours with
 * mode 0700, and no live socket is at the path (a stale one is removed).
 */
export async function prepareSocketPath(path: string): Promise<void> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new ControlError(ControlErrorCode.PATH_TOO_LONG, `the control socket path ${path} is longer than ${MAX_SOCKET_PATH_BYTES} bytes (use a shorter data folder)`);
  }
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const folder = await lstat(dir);
  if (!folder.isDirectory()) throw new ControlError(ControlErrorCode.UNSAFE_PATH, `${dir} is not a folder (a symbolic link is refused)`);
  if (process.getuid && folder.uid !== process.getuid()) throw new ControlError(ControlErrorCode.UNSAFE_PATH, `${dir} belongs to another user`);
  if ((folder.mode & 0o077) !== 0) await chmod(dir, 0o700);
  let existing;
  try {
    existing = await lstat(path);
  } catch (err) {
    if (isMissing(err)) return;
    throw err;
  }
  if (!existing.isSocket()) throw new ControlError(ControlErrorCode.UNSAFE_PATH, `${path} exists and is not a socket; it is left alone`);
  const probe = await probeSocket(path);
  if (probe === 'answers') throw new ControlError(ControlErrorCode.IN_USE, `another node answers on ${path}`);
  if (probe === 'unknown') throw new ControlError(ControlErrorCode.UNSAFE_PATH, `cannot tell whether ${path} is stale; it is left alone`);
  await unlink(path).catch((err: unknown) => {
    if (!isMissing(err)) throw err;
  });
}
