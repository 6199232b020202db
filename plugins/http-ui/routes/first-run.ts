import type { FastifyInstance } from 'fastify';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { link, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { loadProfile } from '../../../core/identity/profile.js';
import type { PluginApi } from '../../../core/plugin.js';
import type { CaRegistration } from '../ca-registration.js';
import { ERR_UI_BAD_REQUEST, ERR_UI_LOCKED, ERR_UI_NO_PROFILE, UiError } from '../errors.js';
import type { UiEvent } from '../event-hub.js';
import { errorSchema, identityStatusSchema, MAX_SECRET_CHARS, newProfileProperties, okSchema, registrationSchema } from '../schemas.js';
import { createProfile, identityOf, publicStatus } from './profile.js';

/** A profile file is a few KiB (key, certificates, pins, chat secrets); the JSON body limit bounds it anyway. */
const MAX_PROFILE_BASE64_CHARS = 180_000;
const CODE_PATTERN = '^[0-9]{4,12}$';

const CA_URL_SCHEMA = { type: 'string', minLength: 8, maxLength: 2000, pattern: '^https?://[^\\s]+$' } as const;

function mustBeNew(api: PluginApi): void {
  if (identityOf(api).status().state !== 'none') throw new UiError(ERR_UI_BAD_REQUEST, 409, 'this node has a profile already');
}

/**
 * The other two ways into a first run: a profile issued by a certification
 * authority (two steps: the CA mails a code; also later, for a self-issued
 * profile), and opening an existing profile file.
 */
export function addFirstRunRoutes(app: FastifyInstance, api: PluginApi, publish: (event: UiEvent) => void, registration: CaRegistration): void {
  const errors = { '4xx': errorSchema };

  app.post<{ Body: { name: string; email: string; password: string; caUrl: string } }>(
    '/api/profile/ca',
    {
      schema: {
        summary: 'Create a profile and ask a certification authority to issue its certificate; the CA mails a code to the address',
        tags: ['profile'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'email', 'password', 'caUrl'],
          properties: { ...newProfileProperties, caUrl: CA_URL_SCHEMA },
        },
        response: { 200: registrationSchema, ...errors },
      },
    },
    async (request) => {
      mustBeNew(api);
      const { caUrl, ...input } = request.body;
      return registration.start({ ...input, caUrl }, () => createProfile(identityOf(api), input, publish));
    },
  );

  app.post<{ Body: { password: string; caUrl: string } }>(
    '/api/profile/ca/register',
    {
      schema: {
        summary: 'Ask a certification authority to issue a certificate for the unlocked profile (same key); the CA mails a code',
        tags: ['profile'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['password', 'caUrl'],
          properties: { password: newProfileProperties.password, caUrl: CA_URL_SCHEMA },
        },
        response: { 200: registrationSchema, ...errors },
      },
    },
    async (request) => {
      const identity = identityOf(api);
      const status = identity.status();
      if (status.state !== 'unlocked' || !status.email) throw new UiError(ERR_UI_LOCKED, 409, 'unlock the profile first');
      // The password unlocks the profile again once the certificate is in; check it now, not then.
      if (api.config.profile === null) throw new UiError(ERR_UI_NO_PROFILE, 404, 'this node runs without a profile file');
      await loadProfile(api.config.profile, request.body.password);
      return registration.start({ email: status.email, password: request.body.password, caUrl: request.body.caUrl });
    },
  );

  app.post<{ Body: { code: string } }>(
    '/api/profile/ca/verify',
    {
      schema: {
        summary: "Send the code from the CA's mail: the profile takes the issued certificate",
        tags: ['profile'],
        body: { type: 'object', additionalProperties: false, required: ['code'], properties: { code: { type: 'string', pattern: CODE_PATTERN } } },
        response: { 200: identityStatusSchema, ...errors },
      },
    },
    async (request) => {
      await registration.verify(request.body.code);
      return publicStatus(identityOf(api).status());
    },
  );

  app.post(
    '/api/profile/ca/retry',
    { schema: { summary: 'Ask the CA for a new code', tags: ['profile'], response: { 200: registrationSchema, ...errors } } },
    async () => registration.retry(),
  );

  app.delete(
    '/api/profile/ca',
    { schema: { summary: 'Give up the registration and keep the self-issued profile', tags: ['profile'], response: { 200: okSchema, ...errors } } },
    async () => {
      registration.cancel();
      return { ok: true };
    },
  );

  app.post<{ Body: { file: string; password: string } }>(
    '/api/profile/import',
    {
      schema: {
        summary: 'Open an existing profile file (base64) with its password: it becomes this node’s profile',
        tags: ['profile'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['file', 'password'],
          properties: {
            file: { type: 'string', minLength: 4, maxLength: MAX_PROFILE_BASE64_CHARS, pattern: '^[A-Za-z0-9+/]+={0,2}$' },
            password: { type: 'string', minLength: 1, maxLength: MAX_SECRET_CHARS },
          },
        },
        response: { 200: identityStatusSchema, ...errors },
      },
    },
    async (request) => {
      mustBeNew(api);
      const target = api.config.profile;
      if (target === null) throw new UiError(ERR_UI_NO_PROFILE, 404, 'this node runs without a profile (none is named in its config)');
      mkdirSync(dirname(target), { recursive: true });
      // Opened from a private copy first: a wrong password or a damaged file never takes the profile's place.
      const staging = join(dirname(target), `.import-${randomBytes(6).toString('hex')}.tmp`);
      try {
        await writeFile(staging, Buffer.from(request.body.file, 'base64'), { flag: 'wx', mode: 0o600 });
        await loadProfile(staging, request.body.password);
        // link() never replaces: a profile made meanwhile (the CLI) wins.
        await link(staging, target).catch((err: NodeJS.ErrnoException) => {
          throw err.code === 'EEXIST' ? new UiError(ERR_UI_BAD_REQUEST, 409, 'this node has a profile already') : err;
        });
      } finally {
        await rm(staging, { force: true });
      }
      const identity = identityOf(api);
      await identity.unlock(request.body.password);
      return publicStatus(identity.status());
    },
  );
}
