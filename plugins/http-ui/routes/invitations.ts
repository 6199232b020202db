import type { FastifyInstance } from 'fastify';
import type { PluginApi } from '../../../core/plugin.js';
import type { ChatServiceView } from '../contract.js';
import { ERR_UI_NO_INVITATIONS, UiError } from '../errors.js';
import type { UnreadTracker } from '../read-markers.js';
import { chatSchema, emailProperty, errorSchema, invitationPolicySchema, invitationSchema, MAX_INVITATION_CHARS, okSchema, outgoingInvitationSchema } from '../schemas.js';
import { chatJson, invitationJson, outgoingInvitationJson } from '../serialize.js';
import { chatOf, completeSummary } from './chats.js';

type Loose = Record<string, any>;
type Invitations = Required<Pick<ChatServiceView, 'invite' | 'pendingInvitations' | 'acceptInvitation' | 'declineInvitation' | 'setInvitationPolicy'>>;

const INVITATION_METHODS = ['invite', 'pendingInvitations', 'acceptInvitation', 'declineInvitation', 'setInvitationPolicy'] as const;

/** Whether a chat service has invitations (the page shows them only then). */
export function hasInvitations(chat: ChatServiceView | undefined): boolean {
  return chat !== undefined && INVITATION_METHODS.every((method) => typeof chat[method] === 'function');
}

/** The unlocked chat service's invitation methods (a service without them is answered 501). */
function invitationsOf(api: PluginApi): { chat: ChatServiceView; inv: Invitations } {
  const chat = chatOf(api);
  if (!hasInvitations(chat)) throw new UiError(ERR_UI_NO_INVITATIONS, 501, 'this chat service has no invitations');
  return { chat, inv: chat as ChatServiceView & Invitations };
}

/** The outgoing side (list, cancel): a service that has invitations but not these is answered 501. */
function outgoingOf(api: PluginApi): Required<Pick<ChatServiceView, 'outgoingInvitations' | 'cancelInvitation'>> {
  const { chat } = invitationsOf(api);
  if (typeof chat.outgoingInvitations !== 'function' || typeof chat.cancelInvitation !== 'function') {
    throw new UiError(ERR_UI_NO_INVITATIONS, 501, 'this chat service does not list the invitations it sent');
  }
  return chat as Required<Pick<ChatServiceView, 'outgoingInvitations' | 'cancelInvitation'>>;
}

/** The policy as the core keeps it; its defaults (allowed, not LAN only) when the service does not expose it. */
function policyOf(chat: ChatServiceView): { allow: boolean; lanOnly: boolean } {
  return { allow: chat.invitations?.allowInbound !== false, lanOnly: chat.invitations?.lanOnly === true };
}

const emailBody = { type: 'object', additionalProperties: false, required: ['email'], properties: { email: emailProperty } } as const;

/**
 * Invitations (spec §2.6, core/node/invitations.ts): pending inbound ones, invite,
 * accept, decline, the ones we sent (list, cancel), and the inbound policy. A pending
 * invitation holds an offline private chat until it is accepted (it goes online) or
 * declined (it is deleted).
 */
export function addInvitationRoutes(app: FastifyInstance, api: PluginApi, unread: UnreadTracker): void {
  const errors = { '4xx': errorSchema, '5xx': errorSchema };

  app.get(
    '/api/invitations',
    { schema: { summary: 'Pending inbound invitations (sender from its certificate, text, safety number)', tags: ['invitations'], response: { 200: { type: 'array', items: invitationSchema }, ...errors } } },
    async () => ((await invitationsOf(api).inv.pendingInvitations()) as Loose[]).map(invitationJson),
  );

  app.post<{ Body: { email: string; text: string } }>(
    '/api/invitations',
    {
      schema: {
        summary: 'Invite someone who has not added us into a private chat; the text is its first message, delivered encrypted. Refused (ERR_NODE_INVITATION_SECRET) when the private chat has a shared secret',
        tags: ['invitations'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['email', 'text'],
          properties: { email: emailProperty, text: { type: 'string', minLength: 1, maxLength: MAX_INVITATION_CHARS } },
        },
        response: { 200: chatSchema, ...errors },
      },
    },
    async (request) => {
      const { chat, inv } = invitationsOf(api);
      const record = (await inv.invite(request.body.email, request.body.text)) as Loose;
      return chatJson(await completeSummary(chat, record, unread));
    },
  );

  app.post<{ Body: { email: string } }>(
    '/api/invitations/accept',
    {
      schema: {
        summary: 'Accept the invitation from `email`: its text becomes the first message and the chat goes online',
        tags: ['invitations'],
        body: emailBody,
        response: { 200: chatSchema, ...errors },
      },
    },
    async (request) => {
      const { chat, inv } = invitationsOf(api);
      const record = (await inv.acceptInvitation(request.body.email)) as Loose;
      return chatJson(await completeSummary(chat, record, unread));
    },
  );

  app.post<{ Body: { email: string } }>(
    '/api/invitations/decline',
    { schema: { summary: 'Decline the invitation from `email`: its offline chat is deleted', tags: ['invitations'], body: emailBody, response: { 200: okSchema, ...errors } } },
    async (request) => {
      const { inv } = invitationsOf(api);
      const pending = ((await inv.pendingInvitations()) as Loose[]).find((i) => i.email === request.body.email);
      // The declined chat is deleted: its read marker goes with it (found through its network ID, gone after).
      if (pending && Number(pending.chatId)) unread.forget(Number(pending.chatId));
      await inv.declineInvitation(request.body.email);
      return { ok: true };
    },
  );

  app.get(
    '/api/invitations/outgoing',
    {
      schema: {
        summary: 'The invitations we sent: to whom, since when, delivered or still looking (kept across restarts until the invitee joins, we cancel or leave the chat)',
        tags: ['invitations'],
        response: { 200: { type: 'array', items: outgoingInvitationSchema }, ...errors },
      },
    },
    async () => ((await outgoingOf(api).outgoingInvitations()) as Loose[]).map(outgoingInvitationJson),
  );

  app.post<{ Body: { email: string } }>(
    '/api/invitations/cancel',
    {
      schema: {
        summary: 'Cancel our invitation to `email`: no more lookups or deliveries (a node of theirs that took it keeps it); the chat stays',
        tags: ['invitations'],
        body: emailBody,
        response: { 200: okSchema, ...errors },
      },
    },
    async (request) => {
      await outgoingOf(api).cancelInvitation(request.body.email);
      return { ok: true };
    },
  );

  app.get(
    '/api/invitations/policy',
    { schema: { summary: 'Whether inbound invitations are allowed, and from the LAN only', tags: ['invitations'], response: { 200: invitationPolicySchema, ...errors } } },
    async () => policyOf(invitationsOf(api).chat),
  );

  app.put<{ Body: { allow?: boolean; lanOnly?: boolean } }>(
    '/api/invitations/policy',
    {
      schema: {
        summary: 'Change the inbound invitation policy (kept in the profile; the masked e-mail is announced or withdrawn at once)',
        tags: ['invitations'],
        body: { ...invitationPolicySchema, additionalProperties: false, minProperties: 1 },
        response: { 200: invitationPolicySchema, ...errors },
      },
    },
    async (request) => {
      const { inv } = invitationsOf(api);
      const policy = (await inv.setInvitationPolicy(request.body)) as Loose;
      return { allow: Boolean(policy.allow), lanOnly: Boolean(policy.lanOnly) };
    },
  );
}
