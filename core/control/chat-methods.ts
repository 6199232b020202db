/**
 * Core's control methods: the node's status and its chats (list, join, open a
 * private chat, leave, send, history, search, members, watch, invitations). They call the chat
 * facade (service `chat`) of the running node, so a chat joined here is online in
 * that node, and they need the profile unlocked (ERR_NODE_LOCKED otherwise: the
 * password never crosses the socket).
 */
import type { ConnectionManager } from '../connection/index.js';
import type { KernelConfig } from '../config.js';
import type { StoredMessage } from '../chat/history-store.js';
import type { MeshStatus } from '../chat/mesh.js';
import type { PluginStatus } from '../kernel.js';
import type { ChatNode, ChatSummary, MemberInfo } from '../node/chat-node.js';
import { type Invitation, type InvitationEnd, MAX_INVITATION_TEXT_BYTES, type OutgoingInvitation } from '../node/invitations.js';
import { ERR_NODE_LOCKED, ERR_NODE_NO_PROFILE, ERR_NODE_UNKNOWN_CHAT, NodeError } from '../node/errors.js';
import type { IdentityService, IdentityStatus } from '../node/identity-service.js';
import { CONTROL_PROTOCOL_VERSION } from './protocol.js';
import type { ControlContext, ControlMethods } from './registry.js';

/** The longest `send --wait` the node agrees to hold a request open for. */
export const MAX_SEND_WAIT_S = 3_600;
const MAX_NAME_CHARS = 255;
const MAX_SECRET_CHARS = 1_024;
const MAX_QUERY_CHARS = 1_024;
const HISTORY_MAX_LIMIT = 500;
const SEARCH_MAX_LIMIT = 500;

/** What the core methods need of the kernel. */
export interface ControlHost {
  readonly config: Readonly<KernelConfig>;
  readonly connections: Pick<ConnectionManager, 'peerId' | 'localPort'>;
  pluginStatus(): readonly PluginStatus[];
  tryResolve(name: string): unknown;
}

export interface ChatJson {
  chatId: number;
  /** 20 bytes, hex: what discovery announces. */
  networkId: string;
  kind: 'group' | 'private';
  name: string;
  online: boolean;
  mesh: MeshStatus;
  members: string[];
  /** Members with a session now (empty while the chat is offline). */
  onlineMembers: string[];
}

export interface MessageJson {
  /** 16 bytes, hex. */
  id: string;
  seq: number;
  chatId: number;
  type: number;
  sender: string;
  outgoing: boolean;
  /** The sender's clock (ms since the epoch). */
  sentAt: number;
  receivedAt: number;
  text: string | null;
}

export interface HistoryCursorJson {
  wallMs: number;
  counter: number;
  /** hex */
  id: string;
}

export interface NodeStatusJson {
  protocol: number;
  pid: number;
  /** The connection layer's peer ID, hex. */
  nodeId: string;
  port: number;
  dataDir: string;
  config: string | null;
  identity: IdentityStatus;
  chats: ChatJson[];
  plugins: Array<{ name: string; version?: string; state: PluginStatus['state'] }>;
}

export interface SendResultJson {
  message: MessageJson;
  /** The chat's members when the message was sent. */
  members: string[];
  delivered: string[];
  pending: string[];
}

export function chatJson(c: ChatSummary, chat: ChatNode): ChatJson {
  const onlineMembers = c.online ? chat.members(c.chatId).filter((m) => m.online).map((m) => m.identity) : [];
  return { chatId: c.chatId, networkId: c.networkId.toString('hex'), kind: c.kind, name: c.name, online: c.online, mesh: c.mesh, members: c.members, onlineMembers };
}

export function messageJson(m: StoredMessage): MessageJson {
  return {
    id: m.id.toString('hex'),
    seq: m.seq,
    chatId: m.chatId,
    type: m.type,
    sender: m.sender,
    outgoing: m.outgoing,
    sentAt: m.hlc.wallMs,
    receivedAt: m.receivedAt,
    text: m.text ?? null,
  };
}

/** The chat facade, or why there is none: no profile (relay-only node) or a locked one. */
function chatOf(host: ControlHost): ChatNode {
  const chat = host.tryResolve('chat') as ChatNode | undefined;
  if (chat) return chat;
  if (!host.tryResolve('identity')) throw new NodeError(ERR_NODE_NO_PROFILE, 'the running node has no profile (relay-only node)');
  throw new NodeError(ERR_NODE_LOCKED, "the running node's profile is locked: unlock it in the web UI, or start the node with --password-file");
}

/** A chat by ID, or by name (group name or e-mail, any case). */
export function findChat(chat: ChatNode, ref: number | string): number {
  // The stored records, not list(): no member query per chat on every request.
  const list = chat.store.chats();
  const found = typeof ref === 'number' ? list.find((c) => c.chatId === ref) : list.find((c) => c.name.toLowerCase() === ref.trim().toLowerCase());
  if (!found) throw new NodeError(ERR_NODE_UNKNOWN_CHAT, `no chat ${typeof ref === 'number' ? ref : `named "${ref}"`} (join it first)`);
  return found.chatId;
}

const chatRef = { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', minLength: 1, maxLength: MAX_NAME_CHARS }] };
const secret = { type: 'string', maxLength: MAX_SECRET_CHARS };
const noParams = { type: 'object', additionalProperties: false };
const object = (properties: Record<string, unknown>, required: string[] = []): Record<string, unknown> => ({ type: 'object', properties, required, additionalProperties: false });

/** Resolves after `ms`, or when `signal` aborts, or when `until` is called. */
function pause(ms: number, signal: AbortSignal, until: (wake: () => void) => void): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    until(done);
  });
}

async function sendAndWait(chat: ChatNode, chatId: number, text: string, waitS: number, context: ControlContext): Promise<SendResultJson> {
  if (!chat.service.isOnlineSafe(chatId)) await chat.goOnline(chatId);
  const members = chat.members(chatId).map((m) => m.identity);
  const delivered = new Set<string>();
  let sent: StoredMessage | undefined;
  let wake = (): void => undefined;
  const onDelivery = (id: number, d: { id: Buffer; recipient: string }): void => {
    if (id !== chatId || !sent || !d.id.equals(sent.id) || delivered.has(d.recipient)) return;
    delivered.add(d.recipient);
    context.emit('delivery', { recipient: d.recipient });
    if (members.every((m) => delivered.has(m))) wake();
  };
  chat.on('delivery', onDelivery);
  try {
    sent = chat.send(chatId, text);
    context.emit('sent', { message: messageJson(sent) });
    if (waitS > 0 && members.some((m) => !delivered.has(m))) await pause(waitS * 1000, context.signal, (w) => (wake = w));
  } finally {
    chat.off('delivery', onDelivery);
  }
  return { message: messageJson(sent), members, delivered: [...delivered], pending: members.filter((m) => !delivered.has(m)) };
}

/** Streams a chat's (or every chat's) events until cancelled or the profile locks. */
function watch(host: ControlHost, chat: ChatNode, only: number | undefined, context: ControlContext): Promise<{ ended: string }> {
  return new Promise((resolve) => {
    const mine = (chatId: number): boolean => only === undefined || chatId === only;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each event has its own payload type, declared per listener
    const listeners: Record<string, (chatId: number, value: any) => unknown> = {
      message: (chatId, m: StoredMessage) => mine(chatId) && context.emit('message', messageJson(m)),
      delivery: (chatId, d: { id: Buffer; recipient: string }) => mine(chatId) && context.emit('delivery', { chatId, id: d.id.toString('hex'), recipient: d.recipient }),
      member: (chatId, e: { identity: string; online: boolean }) => mine(chatId) && context.emit('member', { chatId, ...e }),
      mesh: (chatId, status: MeshStatus) => mine(chatId) && context.emit('mesh', { chatId, status }),
      typing: (chatId, identity: string) => mine(chatId) && context.emit('typing', { chatId, identity }),
      // Not tied to a chat the caller could name yet: only the all-chats watch gets it.
      invitation: (invitation: unknown) => only === undefined && context.emit('invitation', invitation),
      'invitation-sent': (o: unknown) => mine((o as OutgoingInvitation).chatId) && context.emit('invitation-sent', o),
      'invitation-delivered': (chatId, endpoint: unknown) => mine(chatId) && context.emit('invitation-delivered', { chatId, endpoint }),
      'invitation-ended': (e: unknown) => mine((e as InvitationEnd).chatId) && context.emit('invitation-ended', e),
    };
    const identity = host.tryResolve('identity') as IdentityService | undefined;
    const end = (why: string) => (): void => {
      for (const [event, fn] of Object.entries(listeners)) chat.off(event, fn);
      identity?.off('locked', onLocked);
      context.signal.removeEventListener('abort', onAbort);
      resolve({ ended: why });
    };
    const onLocked = end('locked');
    const onAbort = end('cancelled');
    for (const [event, fn] of Object.entries(listeners)) chat.on(event, fn);
    identity?.once('locked', onLocked);
    context.signal.addEventListener('abort', onAbort, { once: true });
  });
}

export function statusOf(host: ControlHost): NodeStatusJson {
  const identity = host.tryResolve('identity') as IdentityService | undefined;
  const chat = host.tryResolve('chat') as ChatNode | undefined;
  return {
    protocol: CONTROL_PROTOCOL_VERSION,
    pid: process.pid,
    nodeId: Buffer.from(host.connections.peerId).toString('hex'),
    port: host.connections.localPort,
    dataDir: host.config.dataDir,
    config: host.config.source,
    identity: identity?.status() ?? { state: 'none' },
    chats: chat ? chat.list().map((c) => chatJson(c, chat)) : [],
    plugins: host.pluginStatus().map((p) => ({ name: p.name, ...(p.version !== undefined ? { version: p.version } : {}), state: p.state })),
  };
}

/** Registers core's methods (before plugins add theirs). */
export function registerCoreMethods(methods: ControlMethods, host: ControlHost): void {
  methods.add('node.status', {
    description: 'Node ID, listening port, identity, chats with mesh status, plugins',
    paramsSchema: noParams,
    handler: () => statusOf(host),
  });
  methods.add('chat.list', {
    description: 'Every joined chat with its mesh status and members',
    paramsSchema: noParams,
    handler: () => {
      const chat = chatOf(host);
      return chat.list().map((c) => chatJson(c, chat));
    },
  });
  methods.add<{ group: string; secret?: string }>('chat.join', {
    description: 'Join (or re-open) a group chat and bring it online',
    paramsSchema: object({ group: { type: 'string', minLength: 1, maxLength: MAX_NAME_CHARS }, secret }, ['group']),
    handler: async ({ group, secret }) => {
      const chat = chatOf(host);
      return chatJson(await chat.createGroup(group, secret), chat);
    },
  });
  methods.add<{ email: string; secret?: string }>('chat.open', {
    description: 'Open (or re-open) a private chat with an e-mail address and bring it online',
    paramsSchema: object({ email: { type: 'string', minLength: 3, maxLength: MAX_NAME_CHARS }, secret }, ['email']),
    handler: async ({ email, secret }) => {
      const chat = chatOf(host);
      return chatJson(await chat.openPrivateChat(email, secret), chat);
    },
  });
  methods.add<{ chat: number | string }>('chat.leave', {
    description: 'Leave a chat: offline, its history and secret deleted',
    paramsSchema: object({ chat: chatRef }, ['chat']),
    handler: async ({ chat: ref }) => {
      const chat = chatOf(host);
      await chat.leave(findChat(chat, ref));
      return { left: true };
    },
  });
  methods.add<{ chat: number | string; text: string; wait: number }>('chat.send', {
    description: 'Send a text (the chat comes online if it was not); streams "sent" and "delivery" events, waits up to `wait` s for every member',
    paramsSchema: object({ chat: chatRef, text: { type: 'string', minLength: 1 }, wait: { type: 'number', minimum: 0, maximum: MAX_SEND_WAIT_S, default: 0 } }, ['chat', 'text']),
    handler: ({ chat: ref, text, wait }, context) => {
      const chat = chatOf(host);
      return sendAndWait(chat, findChat(chat, ref), text, wait, context);
    },
  });
  methods.add<{ chat: number | string; limit: number; before?: HistoryCursorJson }>('chat.history', {
    description: 'A page of history, newest first; pass `next` back as `before` for older messages',
    paramsSchema: object(
      {
        chat: chatRef,
        limit: { type: 'integer', minimum: 1, maximum: HISTORY_MAX_LIMIT, default: 20 },
        before: object({ wallMs: { type: 'integer', minimum: 0 }, counter: { type: 'integer', minimum: 0, maximum: 0xffff }, id: { type: 'string', pattern: '^([0-9a-f]{2}){1,64}$' } }, ['wallMs', 'counter', 'id']),
      },
      ['chat'],
    ),
    handler: ({ chat: ref, limit, before }) => {
      const chat = chatOf(host);
      const cursor = before ? { hlc: { wallMs: before.wallMs, counter: before.counter }, id: Buffer.from(before.id, 'hex') } : undefined;
      const page = chat.history(findChat(chat, ref), { limit, ...(cursor ? { before: cursor } : {}) });
      return {
        messages: page.messages.map(messageJson),
        ...(page.next ? { next: { wallMs: page.next.hlc.wallMs, counter: page.next.hlc.counter, id: page.next.id.toString('hex') } } : {}),
      };
    },
  });
  methods.add<{ query: string; chat?: number | string; limit: number }>('chat.search', {
    description: 'Search message texts (all chats or one), newest first',
    paramsSchema: object({ query: { type: 'string', minLength: 1, maxLength: MAX_QUERY_CHARS }, chat: chatRef, limit: { type: 'integer', minimum: 1, maximum: SEARCH_MAX_LIMIT, default: 20 } }, ['query']),
    handler: ({ query, chat: ref, limit }) => {
      const chat = chatOf(host);
      const result = chat.search(query, { limit, ...(ref !== undefined ? { chatId: findChat(chat, ref) } : {}) });
      return { hits: result.hits.map(messageJson), scanned: result.scanned, ...(result.next !== undefined ? { next: result.next } : {}) };
    },
  });
  methods.add<{ chat: number | string }>('chat.members', {
    description: 'The members of a chat: online or not, safety numbers once seen',
    paramsSchema: object({ chat: chatRef }, ['chat']),
    handler: ({ chat: ref }): MemberInfo[] => {
      const chat = chatOf(host);
      return chat.members(findChat(chat, ref));
    },
  });
  methods.add<{ email: string; text: string; wait: number }>('chat.invite', {
    description: 'Invite someone into a private chat (spec §2.6, text encrypted); streams "delivered" events, waits up to `wait` s for the first',
    paramsSchema: object(
      {
        email: { type: 'string', minLength: 3, maxLength: MAX_NAME_CHARS },
        text: { type: 'string', minLength: 1, maxLength: MAX_INVITATION_TEXT_BYTES },
        wait: { type: 'number', minimum: 0, maximum: MAX_SEND_WAIT_S, default: 0 },
      },
      ['email', 'text'],
    ),
    handler: async ({ email, text, wait }, context) => {
      const chat = chatOf(host);
      let delivered = 0;
      let wake = (): void => undefined;
      const onDelivered = (chatId: number, endpoint: unknown): void => {
        if (chatId !== summary?.chatId) return;
        delivered++;
        context.emit('delivered', { endpoint });
        wake();
      };
      let summary: ChatSummary | undefined;
      chat.on('invitation-delivered', onDelivered);
      try {
        summary = await chat.invite(email, text);
        if (wait > 0 && delivered === 0) await pause(wait * 1000, context.signal, (w) => (wake = w));
      } finally {
        chat.off('invitation-delivered', onDelivered);
      }
      return { chat: chatJson(summary, chat), delivered };
    },
  });
  methods.add('chat.invitations', {
    description: 'Pending inbound invitations (sender from its certificate, text, safety number) and outgoing ones (looking or delivered, until the invitee joins)',
    paramsSchema: noParams,
    handler: (): { pending: Invitation[]; outgoing: OutgoingInvitation[] } => {
      const chat = chatOf(host);
      return { pending: chat.pendingInvitations(), outgoing: chat.outgoingInvitations() };
    },
  });
  methods.add<{ email: string }>('chat.uninvite', {
    description: 'Cancel our invitation to an e-mail address: no more lookups or deliveries (a node of theirs that took it keeps it); the chat stays',
    paramsSchema: object({ email: { type: 'string', minLength: 3, maxLength: MAX_NAME_CHARS } }, ['email']),
    handler: async ({ email }) => {
      await chatOf(host).cancelInvitation(email);
      return { cancelled: true };
    },
  });
  methods.add<{ email: string }>('chat.accept', {
    description: 'Accept the invitation from an e-mail address: its chat comes online',
    paramsSchema: object({ email: { type: 'string', minLength: 3, maxLength: MAX_NAME_CHARS } }, ['email']),
    handler: async ({ email }) => {
      const chat = chatOf(host);
      return chatJson(await chat.acceptInvitation(email), chat);
    },
  });
  methods.add<{ email: string }>('chat.decline', {
    description: 'Decline the invitation from an e-mail address: its offline chat is deleted',
    paramsSchema: object({ email: { type: 'string', minLength: 3, maxLength: MAX_NAME_CHARS } }, ['email']),
    handler: async ({ email }) => {
      await chatOf(host).declineInvitation(email);
      return { declined: true };
    },
  });
  methods.add<{ allow?: boolean; lanOnly?: boolean }>('chat.invitation-policy', {
    description: 'Inbound invitations on/off and "LAN only" (kept in the profile); no parameters reads it',
    paramsSchema: object({ allow: { type: 'boolean' }, lanOnly: { type: 'boolean' } }),
    handler: ({ allow, lanOnly }) =>
      chatOf(host).setInvitationPolicy({ ...(allow !== undefined ? { allow } : {}), ...(lanOnly !== undefined ? { lanOnly } : {}) }),
  });
  methods.add<{ chat?: number | string }>('chat.watch', {
    description: 'Stream "message", "delivery", "member", "mesh", "typing", "invitation-sent", "invitation-delivered" and "invitation-ended" events of one chat (or all, with "invitation") until cancelled',
    paramsSchema: object({ chat: chatRef }),
    handler: ({ chat: ref }, context) => {
      const chat = chatOf(host);
      return watch(host, chat, ref !== undefined ? findChat(chat, ref) : undefined, context);
    },
  });
}
