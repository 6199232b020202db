import type { FastifyInstance } from 'fastify';
import type { PluginApi } from '../../../core/plugin.js';
import type { ChatServiceView, IdentityServiceView } from '../contract.js';
import { ERR_UI_LOCKED, UiError } from '../errors.js';
import { chatIdParams, chatSchema, errorSchema, MAX_NAME_CHARS, MAX_SECRET_CHARS, MAX_TEXT_CHARS, memberSchema, messageSchema, okSchema } from '../schemas.js';
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

/** Chats: list, join or start, messages with paging, send, typing, members, leave, search. */
export function addChatRoutes(app: FastifyInstance, api: PluginApi): void {
  const errors = { '4xx': errorSchema };

  app.get(
    '/api/chats',
    { schema: { summary: 'Every chat, with unread counts, online state and mesh status', tags: ['chats'], response: { 200: { type: 'array', items: chatSchema }, ...errors } } },
    async () => ((await chatOf(api).list()) as Loose[]).map(chatJson),
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
            email: { type: 'string', minLength: 3, maxLength: MAX_NAME_CHARS, pattern: '^[^\\s@]+@[^\\s@]+$' },
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
      return chatJson(record as Loose);
    },
  );

  app.delete<ChatParams>(
    '/api/chats/:chatId',
    { schema: { summary: 'Leave a chat', tags: ['chats'], params: chatIdParams, response: { 200: okSchema, ...errors } } },
    async (request) => {
      await chatOf(api).leave(request.params.chatId);
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
      const page = (await chatOf(api).history(chatId, { ...(before ? { before: decodeCursor(before) } : {}), limit: limit ?? DEFAULT_PAGE })) as Loose;
      return { messages: ((page.messages ?? []) as Loose[]).map((m) => messageJson(m, chatId)), next: encodeCursor(page.next) };
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
    async (request) => messageJson((await chatOf(api).send(request.params.chatId, request.body.text)) as Loose, request.params.chatId),
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
