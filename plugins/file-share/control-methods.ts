/**
 * The file-share methods of the local control socket (`files.*`), so `bitchat share`
 * and `bitchat files` also work beside a running node: list, share (hashing progress
 * as events), download (progress events until done; cancelling the request leaves the
 * download running in the node), pause, resume, cancel. Progress events are sent at
 * most every PROGRESS_EVENT_MS, so a fast transfer does not flood the socket.
 */
import { isAbsolute } from 'node:path';
import type { ControlContext, ControlMethodRegistry } from '../../core/control/registry.js';
import { ERR_NODE_LOCKED, NodeError } from '../../core/node/errors.js';
import { downloadFile, fileAction, findFile, shareInto, type ChatDirectory, type FileAction } from './cli.js';
import { FILE_SHARE_ERRORS, FileShareError } from './errors.js';
import type { FileShareService } from './service.js';

const PROGRESS_EVENT_MS = 100;
const MAX_ID_CHARS = 64;
const MAX_PATH_CHARS = 4_096;
const MAX_CHAT_NAME_CHARS = 255;

const ID_PARAMS = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: MAX_ID_CHARS, pattern: '^[0-9a-fA-F]+$' } },
} as const;

/** Emits `event` with the latest data at most every PROGRESS_EVENT_MS; `flush` sends what is pending. */
function throttled(context: ControlContext, event: string): { push(data: unknown): void; flush(): void } {
  let last = 0;
  let pending: unknown;
  return {
    push(data) {
      const now = Date.now();
      if (now - last >= PROGRESS_EVENT_MS) {
        last = now;
        pending = undefined;
        context.emit(event, data);
      } else pending = data;
    },
    flush() {
      if (pending !== undefined) context.emit(event, pending);
      pending = undefined;
    },
  };
}

export function addFileShareMethods(registry: ControlMethodRegistry, service: FileShareService, chat: () => ChatDirectory | undefined): void {
  const unlockedChat = (): ChatDirectory => {
    const directory = chat();
    if (!directory) throw new NodeError(ERR_NODE_LOCKED, 'the node has not unlocked its profile');
    return directory;
  };

  registry.add('files.list', {
    description: 'Files shared into and advertised in this node\'s chats, with their state',
    handler: () => ({ files: service.list() }),
  });

  registry.add('files.stats', {
    description: 'Counters of the file-share engine (bytes uploaded and downloaded...)',
    handler: () => service.stats,
  });

  registry.add<{ path: string; chat: string }>('files.share', {
    description: 'Hash a file (progress events) and share it into a joined chat; the node seeds it',
    paramsSchema: {
      type: 'object',
      additionalProperties: false,
      required: ['path', 'chat'],
      properties: {
        path: { type: 'string', minLength: 1, maxLength: MAX_PATH_CHARS },
        chat: { type: 'string', minLength: 1, maxLength: MAX_CHAT_NAME_CHARS },
      },
    },
    handler: async ({ path, chat: chatName }, context) => {
      // The node's working folder is not the caller's: a relative path would name another file.
      if (!isAbsolute(path)) throw new FileShareError(FILE_SHARE_ERRORS.BAD_PATH, `"${path}" is not an absolute path`);
      const progress = throttled(context, 'progress');
      const info = await shareInto(unlockedChat(), service, path, chatName, (bytesHashed, size) => progress.push({ bytes: bytesHashed, size }));
      progress.flush();
      return info;
    },
  });

  registry.add<{ id: string }>('files.download', {
    description: 'Download a file (ID or its first digits): progress events until done; cancelling leaves it running',
    paramsSchema: ID_PARAMS,
    handler: async ({ id }, context) => {
      const info = findFile(service, id);
      const directory = unlockedChat();
      const chats = new Set(service.chatsOf(info.fileId));
      for (const c of directory.list()) if (chats.has(c.networkId.toString('hex')) && !c.online) await directory.goOnline(c.chatId);
      const progress = throttled(context, 'progress');
      const done = await downloadFile(service, info.fileId, (p) => progress.push(p), context.signal);
      progress.flush();
      return done;
    },
  });

  for (const action of ['pause', 'resume', 'cancel'] as const satisfies readonly FileAction[]) {
    registry.add<{ id: string }>(`files.${action}`, {
      description: `${action[0]!.toUpperCase()}${action.slice(1)} a download (ID or its first digits)${action === 'cancel' ? ', or stop sharing a file' : ''}`,
      paramsSchema: ID_PARAMS,
      handler: ({ id }) => fileAction(service, action, id),
    });
  }
}
