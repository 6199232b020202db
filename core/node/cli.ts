/**
 * `bitchat join <group>`, `bitchat chat <email>`, `bitchat send <chat> <text>`,
 * `bitchat history <chat>`. The profile password comes from `--password-file`,
 * `$BITCHAT_PASSWORD` or a hidden prompt. `join` and `chat` run a node until Ctrl-C
 * and print what arrives; `send` runs one until the online members acknowledged (or
 * `--wait` ran out); `history` reads the local store without going online.
 */
import { untilInterrupted } from '../interrupt.js';
import { join } from 'node:path';
import type { Argv } from 'yargs';
import { CHAT_MIGRATIONS } from '../chat/history-migrations.js';
import { HistoryStore, type StoredMessage } from '../chat/history-store.js';
import { loadConfig, type KernelConfig } from '../config.js';
import { readPassword } from '../identity/cli.js';
import { loadProfile } from '../identity/profile.js';
import { Kernel } from '../kernel.js';
import { DATABASE_FILE_NAME, Storage } from '../storage.js';
import type { ChatNode } from './chat-node.js';
import { HISTORY_KEY_SETTING } from './chat-node.js';
import { ERR_NODE_LOCKED, ERR_NODE_NO_PROFILE, ERR_NODE_UNKNOWN_CHAT, NodeError } from './errors.js';

const DEFAULT_SEND_WAIT_S = 10;
const DEFAULT_HISTORY_LIMIT = 20;
const POLL_MS = 100;

export interface ChatCliIo {
  out(line: string): void;
  err(line: string): void;
}

interface CommonArgs {
  config?: string;
  logLevel?: string;
  'password-file'?: string;
}

function readConfig(args: CommonArgs): KernelConfig {
  const config = loadConfig(args.config !== undefined ? { configPath: args.config } : {});
  return args.logLevel ? { ...config, logLevel: args.logLevel } : config;
}

function line(m: StoredMessage): string {
  const when = new Date(m.hlc.wallMs).toISOString().replace('T', ' ').slice(0, 19);
  return `[${when}] ${m.sender}: ${m.text ?? `(type ${m.type})`}`;
}

/** A running, unlocked node and its chat service. */
async function openNode(args: CommonArgs): Promise<{ kernel: Kernel; chat: ChatNode }> {
  const config = readConfig(args);
  if (config.profile === null) throw new NodeError(ERR_NODE_NO_PROFILE, 'the config has no profile (relay-only node)');
  const password = await readPassword(args);
  const kernel = await Kernel.create({ config });
  await kernel.start();
  try {
    await kernel.resolve('identity').unlock(password);
  } catch (err) {
    await kernel.stop();
    throw err;
  }
  return { kernel, chat: kernel.resolve('chat') };
}

function findChat(chat: ChatNode, name: string): number {
  const wanted = name.trim().toLowerCase();
  const found = chat.list().find((c) => c.name.toLowerCase() === wanted);
  if (!found) throw new NodeError(ERR_NODE_UNKNOWN_CHAT, `no chat named "${name}" (join it first)`);
  return found.chatId;
}

async function runChat(args: CommonArgs & { 'exit-after'?: number }, io: ChatCliIo, open: (chat: ChatNode) => Promise<{ chatId: number; name: string }>): Promise<void> {
  const { kernel, chat } = await openNode(args);
  try {
    const { chatId, name } = await open(chat);
    chat.on('message', (id: number, m: StoredMessage) => id === chatId && io.out(line(m)));
    chat.on('member', (id: number, e: { identity: string; online: boolean }) => id === chatId && io.out(`* ${e.identity} is ${e.online ? 'online' : 'offline'}`));
    chat.on('mesh', (id: number, status: string) => id === chatId && io.err(`(mesh: ${status})`));
    io.out(`in "${name}" on port ${kernel.connections.localPort}; Ctrl-C to leave (the chat stays joined)`);
    for (const m of chat.history(chatId, { limit: DEFAULT_HISTORY_LIMIT }).messages.reverse()) io.out(line(m));
    await untilInterrupted(args['exit-after']);
  } finally {
    await kernel.stop();
  }
}

export function addChatCommands(cli: Argv, io: ChatCliIo): Argv {
  const pw = (b: Argv) => b.option('password-file', { type: 'string', describe: 'Read the profile password from this file (else $BITCHAT_PASSWORD or a prompt)' });
  return cli
    .command(
      'join <group>',
      'Join (or create) a group chat and stay in it until Ctrl-C',
      (b) => pw(b).positional('group', { type: 'string', demandOption: true }).option('secret', { type: 'string', describe: 'Shared secret of the group' }).option('exit-after', { type: 'number', describe: 'Leave after this many seconds instead of waiting for Ctrl-C' }),
      async (args) => {
        const a = args as unknown as CommonArgs & { group: string; secret?: string };
        await runChat(a, io, async (chat) => {
          const c = await chat.createGroup(a.group, a.secret);
          return { chatId: c.chatId, name: c.name };
        });
      },
    )
    .command(
      'chat <email>',
      'Open a private chat with someone and stay in it until Ctrl-C',
      (b) => pw(b).positional('email', { type: 'string', demandOption: true }).option('secret', { type: 'string', describe: 'Shared secret agreed with the peer' }).option('exit-after', { type: 'number', describe: 'Leave after this many seconds instead of waiting for Ctrl-C' }),
      async (args) => {
        const a = args as unknown as CommonArgs & { email: string; secret?: string };
        await runChat(a, io, async (chat) => {
          const c = await chat.openPrivateChat(a.email, a.secret);
          return { chatId: c.chatId, name: c.name };
        });
      },
    )
    .command(
      'send <chat> <text>',
      'Send a message to a joined chat (group name or e-mail) and wait for acknowledgements',
      (b) =>
        pw(b)
          .positional('chat', { type: 'string', demandOption: true })
          .positional('text', { type: 'string', demandOption: true })
          .option('wait', { type: 'number', default: DEFAULT_SEND_WAIT_S, describe: 'Seconds to wait for members to acknowledge' }),
      async (args) => {
        const a = args as unknown as CommonArgs & { chat: string; text: string; wait: number };
        const { kernel, chat } = await openNode(a);
        try {
          const chatId = findChat(chat, a.chat);
          if (!chat.service.isOnlineSafe(chatId)) await chat.goOnline(chatId);
          const members = chat.members(chatId).map((m) => m.identity);
          const acked = new Set<string>();
          const m = chat.send(chatId, a.text);
          chat.on('delivery', (id: number, d: { id: Buffer; recipient: string }) => {
            if (id === chatId && d.id.equals(m.id)) {
              acked.add(d.recipient);
              io.out(`delivered to ${d.recipient}`);
            }
          });
          const deadline = Date.now() + Math.max(0, a.wait) * 1000;
          while (Date.now() < deadline && (members.length === 0 || acked.size < members.length)) await new Promise((r) => setTimeout(r, POLL_MS));
          const missing = members.filter((x) => !acked.has(x));
          io.out(missing.length ? `sent; not yet delivered to ${missing.join(', ')} (re-sent when they are back)` : 'sent');
        } finally {
          await kernel.stop();
        }
      },
    )
    .command(
      'history <chat>',
      'Print the newest messages of a chat from the local store (offline)',
      (b) => pw(b).positional('chat', { type: 'string', demandOption: true }).option('limit', { type: 'number', default: DEFAULT_HISTORY_LIMIT }),
      async (args) => {
        const a = args as unknown as CommonArgs & { chat: string; limit: number };
        const config = readConfig(a);
        if (config.profile === null) throw new NodeError(ERR_NODE_NO_PROFILE, 'the config has no profile (relay-only node)');
        const profile = await loadProfile(config.profile, await readPassword(a));
        const key = profile.settings[HISTORY_KEY_SETTING];
        if (typeof key !== 'string') throw new NodeError(ERR_NODE_LOCKED, 'this profile has no chat history yet');
        const storage = new Storage(join(config.dataDir, DATABASE_FILE_NAME));
        storage.open();
        try {
          storage.migrate([...CHAT_MIGRATIONS]);
          const store = new HistoryStore(storage.db, Buffer.from(key, 'base64'));
          const wanted = a.chat.trim().toLowerCase();
          const record = store.chats().find((c) => c.name.toLowerCase() === wanted);
          if (!record) throw new NodeError(ERR_NODE_UNKNOWN_CHAT, `no chat named "${a.chat}"`);
          for (const m of store.page(record.chatId, { limit: a.limit }).messages.reverse()) io.out(line(m));
        } finally {
          storage.close();
        }
      },
    );
}
