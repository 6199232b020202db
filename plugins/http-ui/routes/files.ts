import type { FastifyInstance } from 'fastify';
import type { PluginApi } from '../../../core/plugin.js';
import type { FileShareServiceView } from '../contract.js';
import { ERR_UI_BAD_REQUEST, ERR_UI_NO_FILE_SHARE, UiError } from '../errors.js';
import { errorSchema, okSchema, transferSchema } from '../schemas.js';
import { transferJson } from '../serialize.js';

const ACTIONS = ['pause', 'resume', 'cancel'] as const;

function fileShareOf(api: PluginApi): FileShareServiceView {
  const service = api.tryResolve<FileShareServiceView>('fileShare');
  if (!service) throw new UiError(ERR_UI_NO_FILE_SHARE, 404, 'the file-share plugin is not loaded');
  return service;
}

/** Transfers of the file-share plugin, when it is loaded: list and pause / resume / cancel. */
export function addFileRoutes(app: FastifyInstance, api: PluginApi): void {
  app.get(
    '/api/files',
    { schema: { summary: 'File transfers with their progress (file-share plugin)', tags: ['files'], response: { 200: { type: 'array', items: transferSchema }, '4xx': errorSchema } } },
    async () => ((await fileShareOf(api).list()) as Array<Record<string, unknown>>).map(transferJson),
  );
  app.post<{ Params: { id: string; action: (typeof ACTIONS)[number] } }>(
    '/api/files/:id/:action',
    {
      schema: {
        summary: 'Pause, resume or cancel a transfer',
        tags: ['files'],
        params: { type: 'object', required: ['id', 'action'], properties: { id: { type: 'string', minLength: 1, maxLength: 128 }, action: { enum: [...ACTIONS] } } },
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
