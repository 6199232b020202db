import type { FastifyInstance } from 'fastify';
import type { PluginApi } from '../../../core/plugin.js';
import type { ChatServiceView, IdentityServiceView } from '../contract.js';
import { ERR_UI_LOCKED, UiError } from '../errors.js';
import { chatIdParams, chatSchema, emailProperty, errorSchema, MAX_NAME_CHARS, MAX_SECRET_CHARS, MAX_TEXT_CHARS, memberSchema, messageSchema, okSchema } from '../schemas.js';
import type { UnreadTracker } from '../read-markers.js';
import { chatJson, decodeCursor, encodeCursor, memberJson, messageJson } from '../serialize.js';

const DEFAULT_PAGE = 50;
const MAX_PAGE = 200;
const MAX_SEARCH_HITS = 100;

/** The chat service, present once the profile is unlocked. */
export function chatOf(api: PluginApi): ChatServiceView {
  const identity = api.tryResolve<IdentityServiceView>('identity');
  const chat = api.tryResolve<ChatServiceView>('chat');
  if (!chat || (identity && identity.status().state !== 'unlocked')) throw new UiError(ERR_UI_LOCKED, 409, 'unlock the profile first');
  return chat;
}

type Loose = Record<string, any>;
type ChatParams = { Params: { chatId: number } };


/** Fills what a chat service's summaries leave out: unread counts and how many members are online. */
export async function completeSummary(chat: ChatServiceView, summary: Loose, unread: UnreadTracker): Promise<Loose> {
  const out = { ...summary };
  const chatId = Number(out.chatId ?? out.id);
  if (typeof out.unread !== 'number' && typeof out.unreadCount !== 'number') out.unread = unread.unreadOf(chatId);
  if (out.onlineMembers === undefined && out.online) {
    const members = (await chat.members(chatId)) as Array<Loose | string>;
    out.onlineMembers = members.filter((m) => typeof m === 'object' && m.online).length;
  }
  return out;
}

/**
 * Delivery rows for history pages whose messages carry none, read from the chat
 * service's history store when it exposes one (its `deliveryOf`).
 */
function withDelivery(chat: ChatServiceView, chatId: number, message: Loose): Loose {
  if (!message.outgoing || message.delivery || message.deliveredTo || message.delivered !== undefined) return message;
  const store = (chat as unknown as { store?: { deliveryOf?: (chatId: number, id: Buffer) => unknown } }).store;
  if (typeof store?.deliveryOf !== 'function' || !Buffer.isBuffer(message.id)) return message;
  return { ...message, delivery: store.deliveryOf(chatId, message.id) };
}

/** Chats: list, join or start, messages with paging, send, typing, members, read markers, leave, search. */
export function addChatRoutes(app: FastifyInstance, api: PluginApi, unread: UnreadTracker): void {
  const errors = { '4xx': errorSchema };

  app.get(
    '/api/chats',
    { schema: { summary: 'Every chat, with unread counts, online state and mesh status', tags: ['chats'], response: { 200: { type: 'array', items: chatSchema }, ...errors } } },
    async () => {
      const chat = chatOf(api);
      const summaries = (await chat.list()) as Loose[];
      return (await Promise.all(summaries.map((s) => completeSummary(chat, s, unread)))).map(chatJson);
    },
  );

  app.post<{ Body: { kind: 'group' | 'private'; name?: string; email?: string; secret?: string } }>(
    '/api/chats',
    {
      schema: {
        summary: 'Join a group (name + shared secret) or start a private chat (e-mail + shared secret)',
        tags: ['chats'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['kind'],
          properties: {
            kind: { enum: ['group', 'private'] },
            name: { type: 'string', minLength: 1, maxLength: MAX_NAME_CHARS },
            email: emailProperty,
            secret: { type: 'string', maxLength: MAX_SECRET_CHARS },
          },
          oneOf: [
            { properties: { kind: { const: 'group' } }, required: ['name'] },
            { properties: { kind: { const: 'private' } }, required: ['email'] },
          ],
        },
        response: { 200: chatSchema, ...errors },
      },
    },
    async (request) => {
      const chat = chatOf(api);
      const { kind, name, email, secret } = request.body;
      const secretArg = secret ? secret : undefined;
      const record = kind === 'group' ? await chat.createGroup(name!, secretArg) : await chat.openPrivateChat(email!, secretArg);
      return chatJson(await completeSummary(chat, record as Loose, unread));
    },
  );

  app.delete<ChatParams>(
    '/api/chats/:chatId',
    { schema: { summary: 'Leave a chat', tags: ['chats'], params: chatIdParams, response: { 200: okSchema, ...errors } } },
    async (request) => {
      const chat = chatOf(api);
      // The marker is found through the chat's network ID, which leave() deletes: forget it first.
      unread.forget(request.params.chatId);
      await chat.leave(request.params.chatId);
      return { ok: true };
    },
  );

  app.get<ChatParams & { Querystring: { before?: string; limit?: number } }>(
    '/api/chats/:chatId/messages',
    {
      schema: {
        summary: 'A page of history, newest first; pass `next` back as `before` for older messages',
        tags: ['chats'],
        params: chatIdParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { before: { type: 'string', maxLength: 200 }, limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: DEFAULT_PAGE } },
        },
        response: { 200: { type: 'object', properties: { messages: { type: 'array', items: messageSchema }, next: { type: ['string', 'null'] } } }, ...errors },
      },
    },
    async (request) => {
      const { chatId } = request.params;
      const { before, limit } = request.query;
      const chat = chatOf(api);
      const page = (await chat.history(chatId, { ...(before ? { before: decodeCursor(before) } : {}), limit: limit ?? DEFAULT_PAGE })) as Loose;
      const messages = ((page.messages ?? []) as Loose[]).map((m) => messageJson(withDelivery(chat, chatId, m), chatId));
      // The newest page is what the chat screen opens with: the chat has been read.
      if (!before) unread.markRead(chatId, Math.max(0, ...messages.map((m) => m.seq)));
      return { messages, next: encodeCursor(page.next) };
    },
  );

  app.post<ChatParams & { Body: { seq: number } }>(
    '/api/chats/:chatId/read',
    {
      schema: {
        summary: 'The user has seen the chat up to message `seq` (an open chat page reports live messages it showed)',
        tags: ['chats'],
        params: chatIdParams,
        body: { type: 'object', additionalProperties: false, required: ['seq'], properties: { seq: { type: 'integer', minimum: 0 } } },
        response: { 200: okSchema, ...errors },
      },
    },
    async (request) => {
      chatOf(api);
      unread.markRead(request.params.chatId, request.body.seq);
      return { ok: true };
    },
  );

  app.post<ChatParams & { Body: { text: string } }>(
    '/api/chats/:chatId/messages',
    {
      schema: {
        summary: 'Send a text message (stored and re-sent to members who are offline now)',
        tags: ['chats'],
        params: chatIdParams,
        body: { type: 'object', additionalProperties: false, required: ['text'], properties: { text: { type: 'string', minLength: 1, maxLength: MAX_TEXT_CHARS } } },
        response: { 200: messageSchema, ...errors },
      },
    },
    async (request) => {
      const chat = chatOf(api);
      const sent = (await chat.send(request.params.chatId, request.body.text)) as Loose;
      return messageJson(withDelivery(chat, request.params.chatId, sent), request.params.chatId);
    },
  );

  app.post<ChatParams>(
    '/api/chats/:chatId/typing',
    { schema: { summary: 'Tell the online members that we are typing', tags: ['chats'], params: chatIdParams, response: { 200: okSchema, ...errors } } },
    async (request) => ({ ok: Boolean(await chatOf(api).typing(request.params.chatId)) }),
  );

  app.get<ChatParams>(
    '/api/chats/:chatId/members',
    {
      schema: {
        summary: 'Members with online state, fingerprint and safety number',
        tags: ['chats'],
        params: chatIdParams,
        response: { 200: { type: 'array', items: memberSchema }, ...errors },
      },
    },
    async (request) => ((await chatOf(api).members(request.params.chatId)) as Array<Loose | string>).map(memberJson),
  );

  app.get<{ Querystring: { q: string; chatId?: number; before?: number; limit?: number } }>(
    '/api/search',
    {
      schema: {
        summary: 'Search message texts, newest first; pass `next` back as `before` to continue',
        tags: ['chats'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['q'],
          properties: {
            q: { type: 'string', minLength: 1, maxLength: 200 },
            chatId: { type: 'integer', minimum: 1 },
            before: { type: 'integer', minimum: 1 },
            limit: { type: 'integer', minimum: 1, maximum: MAX_SEARCH_HITS, default: 50 },
          },
        },
        response: { 200: { type: 'object', properties: { hits: { type: 'array', items: messageSchema }, next: { type: ['integer', 'null'] } } }, ...errors },
      },
    },
    async (request) => {
      const { q, chatId, before, limit } = request.query;
      const result = (await chatOf(api).search(q, { ...(chatId ? { chatId } : {}), ...(before ? { beforeSeq: before } : {}), limit: limit ?? 50 })) as Loose;
      return { hits: ((result.hits ?? []) as Loose[]).map((m) => messageJson(m)), next: typeof result.next === 'number' ? result.next : null };
    },
  );
}
