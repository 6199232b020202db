import type { FastifyInstance } from 'fastify';
import type { PluginApi } from '../../../core/plugin.js';
import type { ChatServiceView, IdentityServiceView, IdentityStatus } from '../contract.js';
import { ERR_UI_NO_PROFILE, UiError } from '../errors.js';
import type { RegistrationJson } from '../ca-registration.js';
import type { UiEvent } from '../event-hub.js';
import { errorSchema, identityStatusSchema, MAX_SECRET_CHARS, newProfileProperties, profileSchema } from '../schemas.js';
import { hasInvitations } from './invitations.js';

/** Keep progress events to a few per second: key generation may report very often. */
const PROGRESS_INTERVAL_MS = 100;

export function identityOf(api: PluginApi): IdentityServiceView {
  const identity = api.tryResolve<IdentityServiceView>('identity');
  if (!identity) throw new UiError(ERR_UI_NO_PROFILE, 404, 'this node runs without a profile (none is named in its config)');
  return identity;
}

/** Only these fields leave the node: never the password or key material. */
export function publicStatus(status: IdentityStatus): IdentityStatus {
  const out: IdentityStatus = { state: status.state };
  for (const key of ['email', 'name', 'fingerprint', 'safetyNumber'] as const) if (typeof status[key] === 'string') out[key] = status[key];
  return out;
}

function progressJson(progress: unknown): Record<string, unknown> {
  if (typeof progress === 'number') return { fraction: progress };
  if (progress && typeof progress === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(progress)) if (['string', 'number', 'boolean'].includes(typeof value)) out[key] = value;
    return out;
  }
  return { step: String(progress) };
}

/** Who issued the unlocked profile's certificate: 'self', 'ca', or null while locked. */
function certificateKind(identity: IdentityServiceView | undefined): 'self' | 'ca' | null {
  const kind = (identity?.profile as { kind?: unknown } | undefined)?.kind;
  return kind === 'self' || kind === 'ca' ? kind : null;
}

/**
 * Makes a self-issued profile (saved and unlocked), pushing the key's progress
 * to the page as `profile-progress` events.
 */
export async function createProfile(identity: IdentityServiceView, input: { name: string; email: string; password: string }, publish: (event: UiEvent) => void): Promise<IdentityStatus> {
  let last = 0;
  await identity.create({ name: input.name, email: input.email, password: input.password, mode: 'self' }, (progress) => {
    const now = Date.now();
    // Ticks are thinned out; a phase's start and end always go through.
    const tick = typeof progress === 'number' || (progress as { state?: unknown })?.state === 'tick';
    if (tick && now - last < PROGRESS_INTERVAL_MS) return;
    last = now;
    publish({ type: 'profile-progress', progress: progressJson(progress) });
  });
  const status = publicStatus(identity.status());
  publish({ type: 'profile-progress', progress: { done: true } });
  publish({ type: 'identity', status });
  return status;
}

/** First run (create a profile), unlock and lock. */
export function addProfileRoutes(
  app: FastifyInstance,
  api: PluginApi,
  publish: (event: UiEvent) => void,
  attachChat: () => void = () => undefined,
  registration: () => RegistrationJson | null = () => null,
  /** Told the password after an unlock through the page (a CA registration taken up after a restart needs it). */
  unlocked: (password: string) => void = () => undefined,
): void {
  app.get(
    '/api/profile',
    { schema: { summary: 'The profile state, and which services the UI can use', tags: ['profile'], response: { 200: profileSchema } } },
    async () => {
      const identity = api.tryResolve<IdentityServiceView>('identity');
      // Every page load asks this first: make sure the chat service's events are forwarded.
      attachChat();
      return {
        available: identity !== undefined,
        status: identity ? publicStatus(identity.status()) : { state: 'none' },
        chat: identity?.status().state === 'unlocked' && api.tryResolve('chat') !== undefined,
        invitations: identity?.status().state === 'unlocked' && hasInvitations(api.tryResolve<ChatServiceView>('chat')),
        fileShare: api.tryResolve('fileShare') !== undefined,
        registration: registration(),
        certificate: certificateKind(identity),
      };
    },
  );
  app.post<{ Body: { name: string; email: string; password: string } }>(
    '/api/profile',
    {
      schema: {
        summary: 'Create a self-issued profile; progress is pushed as `profile-progress` events while the key is made',
        tags: ['profile'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'email', 'password'],
          properties: newProfileProperties,
        },
        response: { 200: identityStatusSchema, '4xx': errorSchema },
      },
    },
    async (request) => createProfile(identityOf(api), request.body, publish),
  );
  app.post<{ Body: { password: string } }>(
    '/api/profile/unlock',
    {
      schema: {
        summary: 'Unlock the profile with its password; the chats come online',
        tags: ['profile'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['password'],
          properties: { password: { type: 'string', minLength: 1, maxLength: MAX_SECRET_CHARS } },
        },
        response: { 200: identityStatusSchema, '4xx': errorSchema },
      },
    },
    async (request) => {
      const identity = identityOf(api);
      await identity.unlock(request.body.password);
      unlocked(request.body.password);
      return publicStatus(identity.status());
    },
  );
  app.post(
    '/api/profile/lock',
    { schema: { summary: 'Lock the profile: keys leave memory, chats go offline', tags: ['profile'], response: { 200: identityStatusSchema, '4xx': errorSchema } } },
    async () => {
      const identity = identityOf(api);
      await identity.lock();
      return publicStatus(identity.status());
    },
  );
}
