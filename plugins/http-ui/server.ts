import fastifyStatic from '@fastify/static';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { EventHub } from './event-hub.js';
import { collectOpenApi } from './openapi.js';
import { allowedHosts, installSecurity, tokenCookieName, TOKEN_QUERY } from './security.js';

/** The largest JSON body the API accepts; files travel through file-share, not the API. */
const MAX_BODY_BYTES = 256 * 1024;
const MAX_WS_MESSAGE_BYTES = 64 * 1024;
/** A taken port (another node's UI, say) moves us to one of the next ports; past them, to any free one. */
const PORT_FALLBACKS = 10;

/** The package root, whether running from sources (tsx) or from dist/. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6 && !existsSync(join(dir, 'package.json')); i++) dir = dirname(dir);
  return dir;
}

export const PACKAGE_ROOT = packageRoot();
export const PUBLIC_DIR = join(PACKAGE_ROOT, 'plugins', 'http-ui', 'public');
export const APP_DIR = join(PACKAGE_ROOT, 'dist', 'ui');

export interface UiServerOptions {
  host: string;
  port: number;
  token: string;
  logger: Logger;
  version: string;
  /** Adds the API routes (core ones and those of `hooks.httpRoutes`), before listening. */
  addRoutes(app: FastifyInstance, hub: EventHub): Promise<void>;
}

export interface UiServer {
  app: FastifyInstance;
  hub: EventHub;
  /** The address to open, with the access token. */
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const app = Fastify({
    bodyLimit: MAX_BODY_BYTES,
    logger: false,
    forceCloseConnections: true,
    // A body with a field the schema does not name is refused, not silently trimmed.
    ajv: { customOptions: { removeAdditional: false } },
  });
  const hub = new EventHub();
  let port = options.port;
  installSecurity(app, { token: options.token, hosts: () => allowedHosts(options.host, port), cookieName: () => tokenCookieName(port) });
  collectOpenApi(app, { title: 'bitchat local API', version: options.version }, () => tokenCookieName(port));
  await app.register(fastifyWebsocket, { options: { maxPayload: MAX_WS_MESSAGE_BYTES } });
  // Cache-Control stays the security hook's no-store: the page and script change with every build.
  await app.register(fastifyStatic, { root: PUBLIC_DIR, prefix: '/', index: ['index.html'], cacheControl: false });
  if (existsSync(APP_DIR)) {
    await app.register(fastifyStatic, { root: APP_DIR, prefix: '/app/', decorateReply: false, cacheControl: false });
  } else {
    options.logger.warn({ dir: APP_DIR }, 'the web UI script is not built: run `npm run build`');
  }
  app.get('/api/events', { websocket: true }, (socket) => hub.add(socket));
  await options.addRoutes(app, hub);
  // A refused WebSocket upgrade is answered on a socket the HTTP server no longer
  // tracks, so `close` (even with forceCloseConnections) would wait for it: track them.
  const upgradeSockets = new Set<Duplex>();
  app.server.on('upgrade', (_request: IncomingMessage, socket: Duplex) => {
    upgradeSockets.add(socket);
    socket.once('close', () => upgradeSockets.delete(socket));
  });
  const listenPort = await firstFreePort(options.host, options.port);
  if (listenPort !== options.port && options.port !== 0) {
    options.logger.warn({ wanted: options.port, port: listenPort }, 'the web UI port is taken; using another');
  }
  await app.listen({ host: options.host, port: listenPort });
  port = (app.server.address() as { port: number }).port;
  const shownHost = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    app,
    hub,
    port,
    url: `http://${shownHost}:${port}/?${TOKEN_QUERY}=${options.token}`,
    async close() {
      hub.closeAll();
      const closing = app.close();
      for (const socket of upgradeSockets) socket.destroy();
      await closing;
    },
  };
}

/** Whether `port` can be bound on `host` now (EADDRINUSE: no; any other error is thrown). */
function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(false) : reject(err)));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/**
 * The wanted port if it is free, else the first free one of the next PORT_FALLBACKS, else 0 (any).
 * Fastify cannot listen again after a failed listen, hence the probe.
 */
async function firstFreePort(host: string, wanted: number): Promise<number> {
  if (wanted === 0) return 0;
  for (let port = wanted; port <= Math.min(wanted + PORT_FALLBACKS, 65535); port++) {
    if (await canListen(host, port)) return port;
  }
  return 0;
}
