/**
 * `bitchat join <group>`, `bitchat chat <email>`, `bitchat send <chat> <text>`,
 * `bitchat history <chat>`, `bitchat status`, and invitations: `bitchat invite
 * <email> <text>`, `bitchat invitations`, `bitchat accept <email>`, `bitchat decline <email>`,
 * `bitchat uninvite <email>`.
 *
 * When a node runs on the config's data folder (`bitchat start`, or a `join` in
 * another terminal), the commands go through its control socket: the chat comes
 * online in that node, and no password is asked (the node is already unlocked).
 * Otherwise `join`, `chat` and `send` run a node in this process (the profile
 * password from `--password-file`, `$BITCHAT_PASSWORD` or a hidden prompt) and
 * call the same control methods in-process; `history` reads the local store
 * without going online; `status` needs a running node.
 */
import { untilInterrupted } from '../interrupt.js';
import { join } from 'node:path';
import type { Argv } from 'yargs';
import { CHAT_MIGRATIONS } from '../chat/history-migrations.js';
import { HistoryStore } from '../chat/history-store.js';
import type { CliIo } from '../cli-io.js';
import { configFromCliArgs, type ConfigCliArgs, type KernelConfig } from '../config.js';
import { messageJson, type ChatJson, type MessageJson, type NodeStatusJson, type SendResultJson } from '../control/chat-methods.js';
import { ControlClient, InProcessCaller, type ControlCaller } from '../control/client.js';
import { ControlError, ControlErrorCode } from '../control/errors.js';
import { controlSocketPath } from '../control/socket-file.js';
import { readPassword } from '../identity/cli.js';
import { loadProfile } from '../identity/profile.js';
import { Kernel } from '../kernel.js';
import { DATABASE_FILE_NAME, Storage } from '../storage.js';
import { HISTORY_KEY_SETTING } from './chat-node.js';
import { ERR_NODE_LOCKED, ERR_NODE_NO_PROFILE, ERR_NODE_UNKNOWN_CHAT, NodeError } from './errors.js';
import type { Invitation, OutgoingInvitation } from './invitations.js';

const DEFAULT_SEND_WAIT_S = 10;
const DEFAULT_HISTORY_LIMIT = 20;


/** The options every command that reaches a node takes. */
export interface NodeCliArgs extends ConfigCliArgs {
  'password-file'?: string;
}
type CommonArgs = NodeCliArgs;

/** "YYYY-MM-DD hh:mm:ss" (UTC). */
function timeOf(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

function line(m: MessageJson): string {
  return `[${timeOf(m.sentAt)}] ${m.sender}: ${m.text ?? `(type ${m.type})`}`;
}

/** The node running on the config's data folder, if one answers on its control socket. */
function runningNode(config: KernelConfig): Promise<ControlClient | undefined> {
  return ControlClient.connect(controlSocketPath(config.dataDir));
}

export interface NodeLink {
  caller: ControlCaller;
  /** True when the calls go to a node of another process. */
  remote: boolean;
  close(): Promise<void>;
}

/**
 * The running node's socket, else a node this process starts (and unlocks, unless
 * `unlock: false`: for commands that need no network) and stops again in `close`.
 * Plugins' commands use it too, so they also work beside a running node.
 */
export async function linkToNode(args: NodeCliArgs, options: { unlock?: boolean } = {}): Promise<NodeLink> {
  const config = configFromCliArgs(args);
  const client = await runningNode(config);
  if (client) return { caller: client, remote: true, close: async () => client.close() };
  const unlock = options.unlock ?? true;
  if (unlock && config.profile === null) throw new NodeError(ERR_NODE_NO_PROFILE, 'the config has no profile (relay-only node)');
  const password = unlock ? await readPassword(args) : undefined;
  const kernel = await Kernel.create({ config });
  await kernel.start();
  try {
    if (password !== undefined) await kernel.resolve('identity').unlock(password);
  } catch (err) {
    await kernel.stop();
    throw err;
  }
  const caller = new InProcessCaller(kernel.controlMethods!);
  return {
    caller,
    remote: false,
    close: async () => {
      caller.close();
      await kernel.stop();
    },
  };
}

/** Runs `fn` against the running node, or a node of this process for the call. */
async function withNode(args: CommonArgs, fn: (caller: ControlCaller) => Promise<void>): Promise<void> {
  const link = await linkToNode(args);
  try {
    await fn(link.caller);
  } finally {
    await link.close();
  }
}

/** Opens a chat (`chat.join` / `chat.open`), prints its last messages, then what happens in it until Ctrl-C. */
async function runChat(args: CommonArgs & { 'exit-after'?: number }, io: CliIo, method: string, params: Record<string, unknown>): Promise<void> {
  const link = await linkToNode(args);
  try {
    const { caller } = link;
    const chat = await caller.call<ChatJson>(method, params);
    const { port } = await caller.call<NodeStatusJson>('node.status');
    const where = link.remote ? `the running node (port ${port})` : `port ${port}`;
    io.out(`in "${chat.name}" on ${where}; Ctrl-C to leave (the chat stays joined${link.remote ? ' and online in that node' : ''})`);
    const page = await caller.call<{ messages: MessageJson[] }>('chat.history', { chat: chat.chatId, limit: DEFAULT_HISTORY_LIMIT });
    for (const m of page.messages.reverse()) io.out(line(m));
    const watchEnded = new AbortController();
    const cancel = new AbortController();
    const watching = caller
      .call('chat.watch', { chat: chat.chatId }, {
        signal: cancel.signal,
        onEvent: (event, data) => {
          const d = data as Record<string, unknown>;
          if (event === 'message') io.out(line(data as MessageJson));
          else if (event === 'member') io.out(`* ${String(d['identity'])} is ${d['online'] ? 'online' : 'offline'}`);
          else if (event === 'mesh') io.err(`(mesh: ${String(d['status'])})`);
        },
      })
      .then(
        () => io.err('(the node locked its profile)'),
        (err: unknown) => {
          if (!cancel.signal.aborted) io.err(`(the node went away: ${(err as Error).message})`);
        },
      )
      .finally(() => watchEnded.abort());
    await untilInterrupted(args['exit-after'], watchEnded.signal);
    cancel.abort();
    await watching;
  } finally {
    await link.close();
  }
}

export function addChatCommands(cli: Argv, io: CliIo): Argv {
  const pw = (b: Argv) => b.option('password-file', { type: 'string', describe: 'Read the profile password from this file (else $BITCHAT_PASSWORD or a prompt); not needed when a node runs' });
  const exitAfter = { type: 'number', describe: 'Leave after this many seconds instead of waiting for Ctrl-C' } as const;
  return cli
    .command(
      'join <group>',
      'Join (or create) a group chat and follow it until Ctrl-C (in the running node if there is one)',
      (b) => pw(b).positional('group', { type: 'string', demandOption: true }).option('secret', { type: 'string', describe: 'Shared secret of the group' }).option('exit-after', exitAfter),
      async (args) => {
        const a = args as unknown as CommonArgs & { group: string; secret?: string; 'exit-after'?: number };
        await runChat(a, io, 'chat.join', { group: a.group, ...(a.secret !== undefined ? { secret: a.secret } : {}) });
      },
    )
    .command(
      'chat <email>',
      'Open a private chat with someone and follow it until Ctrl-C (in the running node if there is one)',
      (b) => pw(b).positional('email', { type: 'string', demandOption: true }).option('secret', { type: 'string', describe: 'Shared secret agreed with the peer' }).option('exit-after', exitAfter),
      async (args) => {
        const a = args as unknown as CommonArgs & { email: string; secret?: string; 'exit-after'?: number };
        await runChat(a, io, 'chat.open', { email: a.email, ...(a.secret !== undefined ? { secret: a.secret } : {}) });
      },
    )
    .command(
      'send <chat> <text>',
      'Send a message to a joined chat (group name or e-mail), printing deliveries as they come',
      (b) =>
        pw(b)
          .positional('chat', { type: 'string', demandOption: true })
          .positional('text', { type: 'string', demandOption: true })
          .option('wait', { type: 'number', default: DEFAULT_SEND_WAIT_S, describe: 'Seconds to wait for every member to acknowledge (0: do not wait)' }),
      async (args) => {
        const a = args as unknown as CommonArgs & { chat: string; text: string; wait: number };
        const link = await linkToNode(a);
        try {
          const onEvent = (event: string, data: unknown): void => {
            if (event === 'delivery') io.out(`delivered to ${(data as { recipient: string }).recipient}`);
          };
          const sent = await link.caller.call<SendResultJson>('chat.send', { chat: a.chat, text: a.text, wait: Math.max(0, a.wait) }, { onEvent });
          io.out(sent.pending.length ? `sent; not yet delivered to ${sent.pending.join(', ')} (re-sent when they are back)` : 'sent');
        } finally {
          await link.close();
        }
      },
    )
    .command(
      'invite <email> <text>',
      'Invite someone who has not added you into a private chat (the text travels encrypted)',
      (b) =>
        pw(b)
          .positional('email', { type: 'string', demandOption: true })
          .positional('text', { type: 'string', demandOption: true })
          .option('wait', { type: 'number', default: DEFAULT_SEND_WAIT_S, describe: 'Seconds to wait for the invitee\'s node to take it (0: do not wait; a running node keeps trying)' }),
      async (args) => {
        const a = args as unknown as CommonArgs & { email: string; text: string; wait: number };
        await withNode(a, async (caller) => {
          const onEvent = (event: string, data: unknown): void => {
            const ep = (data as { endpoint?: { host: string; port: number } }).endpoint;
            if (event === 'delivered' && ep) io.out(`delivered to ${ep.host}:${ep.port}`);
          };
          const r = await caller.call<{ chat: ChatJson; delivered: number }>('chat.invite', { email: a.email, text: a.text, wait: Math.max(0, a.wait) }, { onEvent });
          io.out(
            r.delivered > 0
              ? `invited ${r.chat.name}`
              : `invitation to ${r.chat.name} not delivered yet (the invitee was not found); kept: the node looks again whenever it runs (bitchat uninvite to cancel)`,
          );
        });
      },
    )
    .command(
      'invitations',
      'List pending invitations (sender from its certificate, safety number, text) and the ones you sent',
      (b) => pw(b),
      async (args) => {
        await withNode(args as unknown as CommonArgs, async (caller) => {
          const r = await caller.call<{ pending: Invitation[]; outgoing: OutgoingInvitation[] }>('chat.invitations');
          if (r.pending.length === 0) io.out('no pending invitations');
          for (const i of r.pending) {
            io.out(`${i.email} (${i.name}), safety number ${i.safetyNumber}, ${timeOf(i.receivedAt)}`);
            io.out(`  ${i.text}`);
          }
          for (const o of r.outgoing) {
            const state = o.state === 'delivered' ? `delivered ${o.deliveries}x, last ${timeOf(o.deliveredAt ?? 0)}; waiting for them to accept` : 'looking for their node';
            io.out(`invited ${o.email} since ${timeOf(o.since)}: ${state}`);
          }
        });
      },
    )
    .command(
      'uninvite <email>',
      'Cancel an invitation you sent: no more lookups or deliveries (a node of theirs that took it keeps it); the chat stays',
      (b) => pw(b).positional('email', { type: 'string', demandOption: true }),
      async (args) => {
        const a = args as unknown as CommonArgs & { email: string };
        await withNode(a, async (caller) => {
          await caller.call('chat.uninvite', { email: a.email });
          io.out(`cancelled the invitation to ${a.email}`);
        });
      },
    )
    .command(
      'accept <email>',
      'Accept the invitation from an e-mail address: the chat comes online (compare the safety number first)',
      (b) => pw(b).positional('email', { type: 'string', demandOption: true }),
      async (args) => {
        const a = args as unknown as CommonArgs & { email: string };
        await withNode(a, async (caller) => {
          const chat = await caller.call<ChatJson>('chat.accept', { email: a.email });
          io.out(`accepted: private chat with ${chat.name} is online`);
        });
      },
    )
    .command(
      'decline <email>',
      'Decline the invitation from an e-mail address: its chat is deleted',
      (b) => pw(b).positional('email', { type: 'string', demandOption: true }),
      async (args) => {
        const a = args as unknown as CommonArgs & { email: string };
        await withNode(a, async (caller) => {
          await caller.call('chat.decline', { email: a.email });
          io.out(`declined the invitation from ${a.email}`);
        });
      },
    )
    .command(
      'history <chat>',
      'Print the newest messages of a chat (from the running node, else from the local store, offline)',
      (b) => pw(b).positional('chat', { type: 'string', demandOption: true }).option('limit', { type: 'number', default: DEFAULT_HISTORY_LIMIT }),
      async (args) => {
        const a = args as unknown as CommonArgs & { chat: string; limit: number };
        const config = configFromCliArgs(a);
        const client = await runningNode(config);
        if (client) {
          try {
            const page = await client.call<{ messages: MessageJson[] }>('chat.history', { chat: a.chat, limit: a.limit });
            for (const m of page.messages.reverse()) io.out(line(m));
          } finally {
            client.close();
          }
          return;
        }
        for (const m of await readHistoryOffline(config, a)) io.out(line(m));
      },
    )
    .command(
      'status',
      'Show the running node: node ID, port, profile, chats with their mesh, plugins (through its control socket)',
      () => {},
      async (args) => {
        const config = configFromCliArgs(args as unknown as CommonArgs);
        const client = await runningNode(config);
        if (!client) throw new ControlError(ControlErrorCode.NOT_RUNNING, `no node is running on ${config.dataDir} (start one with "bitchat start")`);
        try {
          printStatus(await client.call<NodeStatusJson>('node.status'), io);
        } finally {
          client.close();
        }
      },
    );
}

/** The newest messages of a chat, straight from the store of a folder no node runs on (oldest first). */
async function readHistoryOffline(config: KernelConfig, a: CommonArgs & { chat: string; limit: number }): Promise<MessageJson[]> {
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
    return store.page(record.chatId, { limit: a.limit }).messages.reverse().map(messageJson);
  } finally {
    storage.close();
  }
}

export function printStatus(s: NodeStatusJson, io: Pick<CliIo, 'out'>): void {
  const who = s.identity.state === 'unlocked' ? `${s.identity.email} (${s.identity.name}), unlocked` : s.identity.state === 'locked' ? 'locked (unlock it in the web UI, or start with --password-file)' : 'none';
  io.out(`node:    ${s.nodeId} (pid ${s.pid})`);
  io.out(`port:    ${s.port}`);
  io.out(`data:    ${s.dataDir}`);
  io.out(`profile: ${who}`);
  io.out(`chats:   ${s.chats.length === 0 ? 'none' : ''}`);
  for (const c of s.chats) {
    const state = c.online ? `online, mesh ${c.mesh}, ${c.onlineMembers.length}/${c.members.length} members connected` : 'offline';
    io.out(`  ${c.name} (${c.kind}): ${state}`);
  }
  const plugins = s.plugins.map((p) => `${p.name}${p.version ? '@' + p.version : ''}${p.state === 'loaded' ? '' : ` (${p.state})`}`);
  io.out(`plugins: ${plugins.length ? plugins.join(', ') : 'none'}`);
}
