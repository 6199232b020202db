import type { KeyObject } from 'node:crypto';
import { certificatesFromPem, type SubjectProfile } from '../certificate.js';
import { IdentityError, type IdentityErrorCode } from '../errors.js';
import { exportPublicKeyPem } from '../keys.js';
import { MAX_REVOCATION_STATUS_BYTES } from '../revocation.js';

const TIMEOUT_MS = 10_000;

/** Talks to a CA's HTTP API (server.ts). */
export class CaClient {
  constructor(readonly baseUrl: string) {}

  private async call(path: string, init: RequestInit = {}): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch (err) {
      throw new IdentityError('ERR_CA_HTTP', `cannot reach the CA at ${this.baseUrl}: ${(err as Error).message}`, { cause: err });
    }
    if (res.ok) return res;
    let body: { code?: string; message?: string; triesLeft?: number } = {};
    try {
      body = (await res.json()) as typeof body;
    } catch {
      body = {};
    }
    const code = (typeof body.code === 'string' && body.code.startsWith('ERR_') ? body.code : 'ERR_CA_HTTP') as IdentityErrorCode;
    const err = new IdentityError(code, body.message ?? `CA answered HTTP ${res.status}`);
    if (typeof body.triesLeft === 'number') Object.assign(err, { triesLeft: body.triesLeft });
    throw err;
  }

  private async postJson(path: string, body: unknown): Promise<unknown> {
    const res = await this.call(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return res.json();
  }

  /** The CA's root certificate (DER). Compare its fingerprint out of band before trusting it. */
  async fetchRoot(): Promise<Buffer> {
    const der = certificatesFromPem(await (await this.call('/ca.pem')).text())[0];
    if (der === undefined) throw new IdentityError('ERR_CA_HTTP', 'the CA sent no certificate');
    return der;
  }

  /** Starts a registration; the CA mails a code to `subject.email`. */
  async register(subject: SubjectProfile, key: { publicKey: KeyObject } | { csr: string }): Promise<{ requestId: string; expiresAt: number }> {
    const keyField = 'csr' in key ? { csr: key.csr } : { publicKey: exportPublicKeyPem(key.publicKey) };
    return (await this.postJson('/v1/requests', { ...subject, ...keyField })) as { requestId: string; expiresAt: number };
  }

  /** Sends the code back; returns the chain (leaf, root) as DER. */
  async verify(requestId: string, code: string): Promise<{ serial: string; chain: Buffer[]; revoked: string[] }> {
    const body = (await this.postJson(`/v1/requests/${encodeURIComponent(requestId)}/verify`, { code })) as { serial: string; chain: string[]; revoked: string[] };
    return { serial: body.serial, chain: body.chain.flatMap((p) => certificatesFromPem(p)), revoked: body.revoked };
  }

  /** A signed revocation status for a serial (what a peer staples). */
  async fetchStatus(serial: string): Promise<Buffer> {
    const res = await this.call(`/v1/status/${encodeURIComponent(serial)}`);
    const buf = Buffer.from(await res.arrayBuffer());
    if (buf.length > MAX_REVOCATION_STATUS_BYTES) throw new IdentityError('ERR_REVOCATION_MALFORMED', 'revocation status too large');
    return buf;
  }
}
