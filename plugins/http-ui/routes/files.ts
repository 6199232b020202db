import type { FastifyInstance } from 'fastify';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PluginApi } from '../../../core/plugin.js';
import type { ChatServiceView, FileShareServiceView } from '../contract.js';
import { ERR_UI_BAD_REQUEST, ERR_UI_NO_FILE_SHARE, UiError } from '../errors.js';
import { errorSchema, okSchema, transferSchema } from '../schemas.js';
import { transferJson, type ChatRef, type TransferJson } from '../serialize.js';

const ACTIONS = ['download', 'pause', 'resume', 'cancel'] as const;
/** Files dropped on a chat page are copied here, then shared from here. */
const SHARED_DIR = 'shared';
/** The largest file the page may upload for sharing (file-share has its own limit too). */
export const MAX_UPLOAD_BYTES = 2 * 1024 ** 3;
const FILE_NAME_PATTERN = '^[^/\\\\\\u0000]{1,255}$';

function fileShareOf(api: PluginApi): FileShareServiceView {
  const service = api.tryResolve<FileShareServiceView>('fileShare');
  if (!service) throw new UiError(ERR_UI_NO_FILE_SHARE, 404, 'the file-share plugin is not loaded');
  return service;
}

/**
 * Names a file's chats as this node does. file-share keys chats by network ID in
 * hex (the same on every member's node); the page links to chats by local chat ID.
 * A key that is a decimal chat ID (a service that keeps local IDs) is taken as is.
 */
export function chatNamer(api: PluginApi): (keys: unknown) => ChatRef[] {
  const byKey = new Map<string, ChatRef>();
  const chat = api.tryResolve<ChatServiceView>('chat');
  let summaries: unknown = [];
  try {
    summaries = chat?.list() ?? [];
  } catch {
    // Locked between the check and the call: no names.
  }
  for (const s of Array.isArray(summaries) ? (summaries as Array<Record<string, unknown>>) : []) {
    const ref = { chatId: Number(s.chatId ?? s.id), name: String(s.name ?? '') };
    if (!Number.isSafeInteger(ref.chatId)) continue;
    byKey.set(String(ref.chatId), ref);
    if (Buffer.isBuffer(s.networkId)) byKey.set(s.networkId.toString('hex'), ref);
  }
  return (keys) => (Array.isArray(keys) ? keys.flatMap((key) => byKey.get(String(key)) ?? []) : []);
}

/** A transfer with the chats it belongs to. */
export function transferWithChats(service: FileShareServiceView, file: Record<string, unknown>, names: (keys: unknown) => ChatRef[]): TransferJson {
  let keys: unknown = [];
  try {
    if (typeof service.chatsOf === 'function' && typeof file.fileId === 'string') keys = service.chatsOf(file.fileId);
  } catch {
    // The engine stopped meanwhile: the transfer without its chats.
  }
  return transferJson(file, names(keys));
}

/** Files of the file-share plugin, when it is loaded: list, and download / pause / resume / cancel. */
export function addFileRoutes(app: FastifyInstance, api: PluginApi): void {
  app.get(
    '/api/files',
    { schema: { summary: 'File transfers with their progress (file-share plugin)', tags: ['files'], response: { 200: { type: 'array', items: transferSchema }, '4xx': errorSchema } } },
    async () => {
      const service = fileShareOf(api);
      const names = chatNamer(api);
      return ((await service.list()) as Array<Record<string, unknown>>).map((file) => transferWithChats(service, file, names));
    },
  );
  // The upload route takes raw bytes; the parser is scoped to it, every other route stays JSON-only.
  app.register(async (scope) => {
    scope.addContentTypeParser('application/octet-stream', { bodyLimit: MAX_UPLOAD_BYTES }, (_request, payload, done) => done(null, payload));
    scope.post<{ Params: { chatId: number }; Querystring: { name: string } }>(
      '/api/chats/:chatId/files',
      {
        bodyLimit: MAX_UPLOAD_BYTES,
        schema: {
          summary: 'Share a file in a chat: the body is the file (application/octet-stream), dropped on the chat page',
          tags: ['files'],
          params: { type: 'object', required: ['chatId'], properties: { chatId: { type: 'integer', minimum: 1 } } },
          querystring: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: { type: 'string', pattern: FILE_NAME_PATTERN } } },
          response: { 200: transferSchema, '4xx': errorSchema },
        },
      },
      async (request) => {
        const service = fileShareOf(api);
        if (typeof (request.body as Readable | undefined)?.pipe !== 'function') {
          throw new UiError(ERR_UI_BAD_REQUEST, 415, 'send the file itself, as application/octet-stream');
        }
        const name = request.query.name.trim();
        if (!name || name === '.' || name === '..') throw new UiError(ERR_UI_BAD_REQUEST, 400, 'a file name is needed');
        // One folder per upload: two files of the same name never overwrite each other.
        const dir = join(api.dataDir, SHARED_DIR, `${Date.now()}-${randomBytes(4).toString('hex')}`);
        mkdirSync(dir, { recursive: true });
        const path = join(dir, name);
        try {
          await pipeline(request.body as Readable, createWriteStream(path, { flags: 'wx', mode: 0o600 }));
          // The chat layer names chats to file-share by their chat ID (as a string).
          return transferWithChats(service, (await service.share(path, String(request.params.chatId))) as Record<string, unknown>, chatNamer(api));
        } catch (err) {
          rmSync(dir, { recursive: true, force: true });
          throw err;
        }
      },
    );
  });
  app.get<{ Params: { id: string } }>(
    '/api/files/:id/content',
    {
      schema: {
        summary: 'The bytes of a shared or completely downloaded file, as an attachment',
        tags: ['files'],
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[0-9a-f]{1,128}$' } } },
        response: { '4xx': errorSchema },
      },
    },
    async (request, reply) => {
      const files = (await fileShareOf(api).list()) as Array<{ fileId?: string; name?: string; path?: string | null; state?: string }>;
      const file = files.find((f) => f.fileId === request.params.id);
      if (!file?.path || file.state !== 'done') throw new UiError(ERR_UI_BAD_REQUEST, 404, 'no complete file with that ID');
      // Always an attachment of an opaque type: a shared .html must never run as our page.
      const ascii = String(file.name ?? 'file').replace(/[^\x20-\x7e]|["\\]/g, '_');
      return reply
        .type('application/octet-stream')
        .header('Content-Disposition', `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(String(file.name ?? 'file'))}`)
        .send(createReadStream(file.path));
    },
  );
  app.post<{ Params: { id: string; action: (typeof ACTIONS)[number] } }>(
    '/api/files/:id/:action',
    {
      schema: {
        summary: 'Download an advertised file, or pause, resume or cancel a transfer',
        tags: ['files'],
        params: { type: 'object', required: ['id', 'action'], properties: { id: { type: 'string', pattern: '^[0-9a-f]{1,128}$' }, action: { enum: [...ACTIONS] } } },
        response: { 200: okSchema, '4xx': errorSchema },
      },
    },
    async (request) => {
      const service = fileShareOf(api);
      const fn = service[request.params.action];
      if (typeof fn !== 'function') throw new UiError(ERR_UI_BAD_REQUEST, 400, `file-share cannot ${request.params.action}`);
      await fn.call(service, request.params.id);
      return { ok: true };
    },
  );
}
