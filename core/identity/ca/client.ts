import type { KeyObject } from 'node:crypto';
import { BitChatError } from '../../errors.js';
import { certificatesFromPem, type SubjectProfile } from '../certificate.js';
import { IdentityError, type IdentityErrorCode } from '../errors.js';
import { exportPublicKeyPem } from '../keys.js';
import { MAX_REVOCATION_STATUS_BYTES } from '../revocation.js';

const TIMEOUT_MS = 10_000;
/** A CA answer is a certificate chain or a small JSON object; anything larger is not one. */
const MAX_CA_BODY_BYTES = 1024 * 1024;

/** One request as the CA client makes it (a subset of the proxy service's `fetch` options). */
export interface CaRequestInit {
  method: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  maxBodyBytes: number;
}

/** An answer, its body read whole (a subset of the proxy service's `fetch` response). */
export interface CaResponse {
  status: number;
  body: Buffer;
}

/**
 * How the client reaches the CA. The default is a direct connection (global
 * `fetch`); a node behind a proxy passes the proxy service's `fetch`, so host
 * names go to the proxy unresolved and nothing leaves the machine directly.
 * A transport's own coded errors (ERR_PROXY_*) reach the caller unchanged.
 */
export type CaTransport = (url: URL, init: CaRequestInit) => Promise<CaResponse>;

/** A direct request with global `fetch`, its body read up to `maxBodyBytes`. */
export const directCaTransport: CaTransport = async (url, init) => {
  const res = await fetch(url, {
    method: init.method,
    headers: init.headers,
    ...(init.body !== undefined ? { body: init.body } : {}),
    signal: AbortSignal.timeout(init.timeoutMs),
  });
  const chunks: Buffer[] = [];
  let size = 0;
  if (res.body) {
    for await (const chunk of res.body) {
      size += chunk.length;
      if (size > init.maxBodyBytes) throw new IdentityError('ERR_CA_HTTP', `the CA's answer is larger than ${init.maxBodyBytes} bytes`);
      chunks.push(Buffer.from(chunk));
    }
  }
  return { status: res.status, body: Buffer.concat(chunks) };
};

/** Talks to a CA's HTTP API (server.ts). */
export class CaClient {
  readonly #transport: CaTransport;

  constructor(
    readonly baseUrl: string,
    transport: CaTransport = directCaTransport,
  ) {
    this.#transport = transport;
  }

  private async call(path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<CaResponse> {
    let res: CaResponse;
    try {
      res = await this.#transport(new URL(path, this.baseUrl), {
        method: init.method ?? 'GET',
        headers: init.headers ?? {},
        ...(init.body !== undefined ? { body: init.body } : {}),
        timeoutMs: TIMEOUT_MS,
        maxBodyBytes: MAX_CA_BODY_BYTES,
      });
    } catch (err) {
      // A proxy's typed failure (down, refused, timed out) says more than "cannot reach the CA".
      if (err instanceof BitChatError) throw err;
      throw new IdentityError('ERR_CA_HTTP', `cannot reach the CA at ${this.baseUrl}: ${(err as Error).message}`, { cause: err });
    }
    if (res.status >= 200 && res.status < 300) return res;
    let body: { code?: string; message?: string; triesLeft?: number } = {};
    try {
      body = JSON.parse(res.body.toString('utf8')) as typeof body;
    } catch {
      body = {};
    }
    body ??= {};
    const code = (typeof body.code === 'string' && body.code.startsWith('ERR_') ? body.code : 'ERR_CA_HTTP') as IdentityErrorCode;
    const err = new IdentityError(code, typeof body.message === 'string' ? body.message : `CA answered HTTP ${res.status}`);
    if (typeof body.triesLeft === 'number') Object.assign(err, { triesLeft: body.triesLeft });
    throw err;
  }

  private async postJson(path: string, body: unknown): Promise<unknown> {
    const res = await this.call(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    try {
      return JSON.parse(res.body.toString('utf8'));
    } catch (err) {
      throw new IdentityError('ERR_CA_HTTP', `the CA at ${this.baseUrl} answered something that is not JSON`, { cause: err });
    }
  }

  #malformed(what: string): IdentityError {
    return new IdentityError('ERR_CA_HTTP', `the CA at ${this.baseUrl} answered a ${what} this client cannot read`);
  }

  /** The CA's root certificate (DER). Compare its fingerprint out of band before trusting it. */
  async fetchRoot(): Promise<Buffer> {
    const der = certificatesFromPem((await this.call('/ca.pem')).body.toString('utf8'))[0];
    if (der === undefined) throw new IdentityError('ERR_CA_HTTP', 'the CA sent no certificate');
    return der;
  }

  /** Starts a registration; the CA mails a code to `subject.email`. */
  async register(subject: SubjectProfile, key: { publicKey: KeyObject } | { csr: string }): Promise<{ requestId: string; expiresAt: number }> {
    const keyField = 'csr' in key ? { csr: key.csr } : { publicKey: exportPublicKeyPem(key.publicKey) };
    const body = (await this.postJson('/v1/requests', { ...subject, ...keyField })) as { requestId?: unknown; expiresAt?: unknown } | null;
    if (typeof body?.requestId !== 'string' || typeof body.expiresAt !== 'number') throw this.#malformed('registration');
    return { requestId: body.requestId, expiresAt: body.expiresAt };
  }

  /** Sends the code back; returns the chain (leaf, root) as DER. */
  async verify(requestId: string, code: string): Promise<{ serial: string; chain: Buffer[]; revoked: string[] }> {
    const body = (await this.postJson(`/v1/requests/${encodeURIComponent(requestId)}/verify`, { code })) as { serial?: unknown; chain?: unknown; revoked?: unknown } | null;
    const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
    if (typeof body?.serial !== 'string' || !strings(body.chain) || !strings(body.revoked)) throw this.#malformed('certificate');
    return { serial: body.serial, chain: body.chain.flatMap((p) => certificatesFromPem(p)), revoked: body.revoked };
  }

  /** A signed revocation status for a serial (what a peer staples). */
  async fetchStatus(serial: string): Promise<Buffer> {
    const buf = (await this.call(`/v1/status/${encodeURIComponent(serial)}`)).body;
    if (buf.length > MAX_REVOCATION_STATUS_BYTES) throw new IdentityError('ERR_REVOCATION_MALFORMED', 'revocation status too large');
    return buf;
  }
}
