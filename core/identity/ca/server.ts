/**
 * The CA's HTTP API (fastify). JSON in, JSON out, except the revocation status
 * (binary, docs/protocol/identity.md) and the root certificate (PEM).
 *
 * | route | body | answer |
 * | --- | --- | --- |
 * | GET /ca.pem | - | root certificate |
 * | POST /v1/requests | { email, name, location?, website?, csr? or publicKey? } | 202 { requestId, expiresAt } (code sent by mail) |
 * | POST /v1/requests/:id/verify | { code } | 200 { serial, certificate, chain: [PEM], revoked: [serial] } |
 * | GET /v1/status/:serial | - | application/octet-stream signed status |
 * Errors: { code, message, triesLeft? } with 400/403/404/410/429/502.
 */
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { certificateToPem } from '../certificate.js';
import { IdentityError } from '../errors.js';
import type { CertificateAuthority, RegistrationRequest } from './authority.js';
import type { VerificationMailer } from './mailer.js';

const BODY_LIMIT = 64 * 1024;

const HTTP_STATUS: Record<string, number> = {
  ERR_CA_BAD_REQUEST: 400,
  ERR_CA_BAD_CSR: 400,
  ERR_KEY_NOT_RSA: 400,
  ERR_KEY_WEAK: 400,
  ERR_KEY_MALFORMED: 400,
  ERR_CA_WRONG_CODE: 403,
  ERR_CA_UNKNOWN_REQUEST: 404,
  ERR_CA_UNKNOWN_SERIAL: 404,
  ERR_CA_TOO_MANY_TRIES: 410,
  ERR_CA_REQUEST_EXPIRED: 410,
  ERR_CA_RATE_LIMITED: 429,
  ERR_CA_MAIL_FAILED: 502,
};

function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof IdentityError) {
    const body: Record<string, unknown> = { code: err.code, message: err.message };
    const left = (err as { triesLeft?: number }).triesLeft;
    if (left !== undefined) body['triesLeft'] = left;
    return reply.code(HTTP_STATUS[err.code] ?? 400).send(body);
  }
  throw err;
}

/** Builds (does not start) the CA's fastify server. */
export function createCaServer(ca: CertificateAuthority, mailer: VerificationMailer): FastifyInstance {
  const app = Fastify({ bodyLimit: BODY_LIMIT, logger: false });

  app.get('/ca.pem', async (_req, reply) => reply.type('application/x-pem-file').send(certificateToPem(ca.root.der)));

  app.post('/v1/requests', async (req, reply) => {
    try {
      const body = (req.body ?? {}) as RegistrationRequest;
      if (typeof body !== 'object') throw new IdentityError('ERR_CA_BAD_REQUEST', 'JSON body required');
      const { requestId, code, expiresAt, email } = ca.createRequest(body, req.ip);
      try {
        await mailer.sendCode(email, code, ca.config.name);
      } catch (err) {
        ca.failRequest(requestId);
        throw err;
      }
      return reply.code(202).send({ requestId, expiresAt });
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.post<{ Params: { id: string } }>('/v1/requests/:id/verify', async (req, reply) => {
    try {
      const code = (req.body as { code?: unknown } | undefined)?.code;
      const issued = ca.verifyRequest(req.params.id, typeof code === 'string' ? code : '');
      return reply.send({
        serial: issued.serial,
        certificate: certificateToPem(issued.certificate),
        chain: issued.chain.map((c) => certificateToPem(c)),
        revoked: issued.revoked,
      });
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get<{ Params: { serial: string } }>('/v1/status/:serial', async (req, reply) => {
    try {
      const status = ca.status(req.params.serial);
      return reply.type('application/octet-stream').header('cache-control', 'no-store').send(status);
    } catch (err) {
      return sendError(reply, err);
    }
  });

  return app;
}
