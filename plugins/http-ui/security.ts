/**
 * The local API is reachable by any web page the user opens, so every
 * request must prove it comes from our own page: a per-run secret token
 * (first on the URL the CLI prints, then in an HttpOnly cookie), a Host
 * header naming our own address (no DNS rebinding) and, when present, an
 * Origin that is ours (no cross-site requests or WebSockets).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * Cookies are scoped by host, not port: two nodes on 127.0.0.1 would overwrite
 * each other's cookie, so its name carries the port.
 */
export const TOKEN_COOKIE_PREFIX = 'bitchat_token_';
export function tokenCookieName(port: number): string {
  return `${TOKEN_COOKIE_PREFIX}${port}`;
}
export const TOKEN_QUERY = 'token';

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** The Host header values that name this server: loopback names and the listen address. */
export function allowedHosts(listenHost: string, port: number): Set<string> {
  const names = new Set(['127.0.0.1', 'localhost', '[::1]']);
  if (listenHost !== '0.0.0.0' && listenHost !== '::') names.add(listenHost.includes(':') ? `[${listenHost}]` : listenHost);
  return new Set([...names].map((name) => `${name}:${port}`));
}

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function sameToken(given: string | undefined, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookieToken(request: FastifyRequest, cookieName: string): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === cookieName) return rest.join('=');
  }
  return undefined;
}

function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  return header?.startsWith('Bearer ') ? header.slice(7) : undefined;
}

/** Installs the checks as the first hook of every request, WebSocket upgrades included. */
export function installSecurity(app: FastifyInstance, options: { token: string; hosts: () => Set<string>; cookieName: () => string }): void {
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    reply.header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('Referrer-Policy', 'no-referrer');
    reply.header('X-Frame-Options', 'DENY');
    reply.header('Cache-Control', 'no-store');

    const hosts = options.hosts();
    if (!request.headers.host || !hosts.has(request.headers.host)) {
      return reply.code(403).type('text/plain').send('Forbidden: unexpected Host header');
    }
    const origin = request.headers.origin;
    if (origin !== undefined && !hosts.has(origin.replace(/^https?:\/\//, ''))) {
      return reply.code(403).type('text/plain').send('Forbidden: cross-origin request');
    }
    const url = new URL(request.url, 'http://local');
    const fromQuery = url.searchParams.get(TOKEN_QUERY) ?? undefined;
    if (request.method === 'GET' && sameToken(fromQuery, options.token)) {
      // Move the token from the URL into a cookie, and the URL out of the history.
      url.searchParams.delete(TOKEN_QUERY);
      reply.header('Set-Cookie', `${options.cookieName()}=${options.token}; HttpOnly; SameSite=Strict; Path=/`);
      return reply.redirect(url.pathname + url.search, 303);
    }
    if (!sameToken(cookieToken(request, options.cookieName()) ?? bearerToken(request), options.token)) {
      return reply
        .code(401)
        .type('text/plain')
        .send('Unauthorized: open the address that `bitchat start` printed (it carries this run\'s access token).');
    }
  });
}
