/**
 * A small HTTP CONNECT client over `net`: writes the request, reads the
 * response head in paused mode with a byte cap, and hands back the socket with
 * any tunnel bytes that arrived with the head put back in front.
 */
import type { Socket } from 'node:net';
import type { Endpoint } from '../../core/types.js';
import { MAX_CONNECT_RESPONSE_BYTES } from './constants.js';
import { openTcp, type DialGuard, type OpenTcpOptions } from './dial-guard.js';
import { PROXY_ERROR_CODES, ProxyError } from './errors.js';
import { decodeConnectResponse, encodeConnectRequest, type ConnectResponse } from './http-connect-codec.js';
import type { ProxyServerConfig } from './options.js';

/** What an HTTP status from a proxy means to a caller. */
function statusToError(response: ConnectResponse, label: string, offeredCredentials: boolean): ProxyError {
  const { status } = response;
  const details = { httpStatus: status };
  // 407 is the standard answer; tinyproxy 1.11 answers wrong credentials with 401.
  if (status === 407 || status === 401) {
    return offeredCredentials
      ? new ProxyError(PROXY_ERROR_CODES.AUTH_FAILED, `${label}: proxy rejected the username or password (HTTP ${status})`, details)
      : new ProxyError(PROXY_ERROR_CODES.AUTH_REQUIRED, `${label}: proxy requires authentication (HTTP ${status})`, details);
  }
  if (status === 403 || status === 405) {
    return new ProxyError(PROXY_ERROR_CODES.FORBIDDEN, `${label}: proxy forbids this destination (HTTP ${status})`, details);
  }
  if (status === 502 || status === 503 || status === 504) {
    return new ProxyError(PROXY_ERROR_CODES.TARGET_UNREACHABLE, `${label}: proxy could not reach the destination (HTTP ${status})`, details);
  }
  return new ProxyError(PROXY_ERROR_CODES.REFUSED, `${label}: proxy refused the tunnel (HTTP ${status})`, details);
}

/** Reads the response head; resolves with it and any bytes after it. */
function readConnectResponse(socket: Socket, guard: DialGuard, label: string): Promise<{ response: ConnectResponse; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let received: Buffer = Buffer.alloc(0);
    const cleanup = (): void => {
      socket.removeListener('readable', onReadable);
      socket.removeListener('error', onError);
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onEnd);
    };
    const fail = (err: ProxyError): void => {
      cleanup();
      socket.destroy();
      reject(guard.aborted ? guard.reason : err);
    };
    const onReadable = (): void => {
      // The decoder sees at most cap + 1 bytes, so an oversized head fails at the cap.
      for (;;) {
        const chunk = socket.read() as Buffer | null;
        if (chunk === null) return;
        received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
        let response: ConnectResponse | undefined;
        try {
          response = decodeConnectResponse(received.subarray(0, MAX_CONNECT_RESPONSE_BYTES + 1));
        } catch (err) {
          fail(new ProxyError(PROXY_ERROR_CODES.BAD_RESPONSE, `${label}: ${(err as Error).message}`));
          return;
        }
        if (response !== undefined) {
          cleanup();
          resolve({ response, rest: received.subarray(response.headLength) });
          return;
        }
      }
    };
    const onError = (err: Error): void => {
      fail(new ProxyError(PROXY_ERROR_CODES.CLOSED, `${label}: connection to the proxy failed during CONNECT (${(err as NodeJS.ErrnoException).code ?? 'error'})`));
    };
    const onEnd = (): void => {
      fail(new ProxyError(PROXY_ERROR_CODES.CLOSED, `${label}: proxy closed the connection before answering CONNECT`));
    };
    socket.on('readable', onReadable);
    socket.once('error', onError);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
  });
}

export interface HttpConnectDialOptions {
  proxy: ProxyServerConfig;
  target: Endpoint;
  guard: DialGuard;
  label: string;
  lookup?: OpenTcpOptions['lookup'];
}

/** Opens a tunnel to `target` through an HTTP proxy; rejects with a ProxyError. */
export async function dialHttpConnect(options: HttpConnectDialOptions): Promise<Socket> {
  const { proxy, target, guard, label } = options;
  const offeredCredentials = proxy.username !== undefined;
  const request = encodeConnectRequest(
    target,
    offeredCredentials ? { username: proxy.username as string, password: proxy.password ?? '' } : undefined,
  );
  const socket = await openTcp({ host: proxy.host, port: proxy.port, label, ...(options.lookup ? { lookup: options.lookup } : {}) }, guard);
  const unwatch = guard.watch(socket);
  try {
    socket.write(request);
    const { response, rest } = await readConnectResponse(socket, guard, label);
    if (guard.aborted) throw guard.reason;
    if (response.status < 200 || response.status > 299) throw statusToError(response, label, offeredCredentials);
    if (rest.length > 0) socket.unshift(rest);
    return socket;
  } catch (err) {
    socket.destroy();
    throw err;
  } finally {
    unwatch();
  }
}
