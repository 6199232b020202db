import { connect, type Socket } from 'node:net';
import type { KernelHooks } from '../hooks.js';
import type { DialRequest } from '../types.js';
import { ConnectionError, ConnectionErrorCode } from './errors.js';

/** The tap name of the core's direct TCP dial. */
export const DIRECT_DIAL_TAP = 'core:direct-tcp';
/** Its stage: high, so taps of proxy and relay plugins (default stage 0) run first. */
export const DIRECT_DIAL_STAGE = 1000;

/**
 * Open a TCP connection to `request.endpoint` with TCP_NODELAY, honouring the timeout
 * and abort signal. Rejects with ERR_CONNECTION_DIAL.
 */
export function dialTcp(request: DialRequest): Promise<Socket> {
  const { endpoint, timeoutMs, signal } = request;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new ConnectionError(ConnectionErrorCode.DIAL, `dial to ${endpoint.host}:${endpoint.port} aborted`));
      return;
    }
    const socket = connect({ host: endpoint.host, port: endpoint.port, noDelay: true });
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('connect', onConnect);
      socket.off('error', onError);
      if (err) {
        socket.destroy();
        reject(err);
      } else {
        resolve(socket);
      }
    };
    const onConnect = (): void => finish();
    const onError = (err: Error): void =>
      finish(new ConnectionError(ConnectionErrorCode.DIAL, `dial to ${endpoint.host}:${endpoint.port} failed: ${err.message}`, { cause: err }));
    const onAbort = (): void => finish(new ConnectionError(ConnectionErrorCode.DIAL, `dial to ${endpoint.host}:${endpoint.port} aborted`));
    const timer = setTimeout(
      () => finish(new ConnectionError(ConnectionErrorCode.DIAL, `dial to ${endpoint.host}:${endpoint.port} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.once('connect', onConnect);
    socket.once('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Tap the core's direct TCP dial into `hooks.dial`, last of all taps, so that a
 * proxy or relay plugin that supplies a stream wins. The kernel calls this once.
 */
export function tapDirectDial(hooks: Pick<KernelHooks, 'dial'>): void {
  hooks.dial.tapPromise({ name: DIRECT_DIAL_TAP, stage: DIRECT_DIAL_STAGE }, (request) => dialTcp(request));
}
