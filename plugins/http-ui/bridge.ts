/**
 * Forwards the services' events to the open pages: identity (unlocked /
 * locked), and, once unlocked, the chat service's messages, deliveries, typing,
 * members, mesh status and invitations, plus file-share progress when it is loaded.
 */
import type { PluginApi } from '../../core/plugin.js';
import { CHAT_EVENTS, IDENTITY_EVENTS, INVITATION_EVENTS, unsubscribe, type ChatServiceView, type FileShareServiceView, type IdentityServiceView, type Subscribable } from './contract.js';
import type { UiEvent } from './event-hub.js';
import { ChatReadMarkers, ReadMarkers, type UnreadTracker } from './read-markers.js';
import { publicStatus } from './routes/profile.js';
import { chatNamer, transferWithChats } from './routes/files.js';
import { invitationEndJson, invitationJson, memberJson, messageJson, outgoingInvitationJson } from './serialize.js';

/** file-share's events that change what the files screen shows (each carries a FileInfo or FileProgress first). */
const FILE_EVENTS = ['progress', 'complete', 'advertised'] as const;

type Listener = (...args: any[]) => void;

function hexOf(value: unknown): string {
  return Buffer.isBuffer(value) || value instanceof Uint8Array ? Buffer.from(value).toString('hex') : String(value ?? '');
}

/** The UI event for one chat service event; arguments as the service emits them (chatId first). */
export function chatEvent(name: (typeof CHAT_EVENTS)[number], chatId: unknown, detail: any): UiEvent {
  const base = { chatId: Number(chatId) };
  switch (name) {
    case 'message':
      return { type: 'message', ...base, message: messageJson(detail ?? {}, base.chatId) };
    case 'delivery':
      return { type: 'delivery', ...base, id: hexOf(detail?.id), recipient: String(detail?.recipient ?? '') };
    case 'typing':
      return { type: 'typing', ...base, identity: typeof detail === 'string' ? detail : String(detail?.identity ?? '') };
    case 'member':
      return { type: 'member', ...base, member: memberJson(detail ?? '') };
    case 'mesh':
      return { type: 'mesh', ...base, status: typeof detail === 'string' ? detail : String(detail?.status ?? 'none') };
  }
}

/**
 * The UI event for one invitation event: `invitation` (Invitation), `invitation-sent`
 * (OutgoingInvitation), `invitation-delivered` (chatId, end point) or `invitation-ended` (InvitationEnd).
 */
export function invitationEvent(name: (typeof INVITATION_EVENTS)[number], first: any, second: any): UiEvent {
  if (name === 'invitation') return { type: 'invitation', invitation: invitationJson(first ?? {}) };
  if (name === 'invitation-sent') return { type: 'invitation-sent', invitation: outgoingInvitationJson(first ?? {}) };
  if (name === 'invitation-ended') return { type: 'invitation-ended', ...invitationEndJson(first ?? {}) };
  const host = typeof second?.host === 'string' ? second.host : '';
  return { type: 'invitation-delivered', chatId: Number(first) || 0, endpoint: host ? `${host.includes(':') ? `[${host}]` : host}:${Number(second?.port) || 0}` : '' };
}

/**
 * Also keeps the unread counts (the chat service counts none): incoming
 * messages after each chat's read marker, in the plugin's table (read-markers.ts).
 */
export class EventBridge implements UnreadTracker {
  readonly stats = { forwarded: 0 };
  readonly #api: PluginApi;
  #markers: ChatReadMarkers | null = null;
  readonly #publish: (event: UiEvent) => void;
  readonly #subscriptions: Array<{ target: Subscribable; event: string; listener: Listener }> = [];
  #chat: ChatServiceView | undefined;
  #started = false;

  constructor(api: PluginApi, publish: (event: UiEvent) => void) {
    this.#api = api;
    this.#publish = publish;
  }

  start(): void {
    this.#started = true;
    const api = this.#api;
    this.#markers = new ChatReadMarkers(new ReadMarkers(api.resolve('storage').db), () => {
      const chat = api.tryResolve<ChatServiceView>('chat');
      return chat ? () => chat.list() : undefined;
    });
    const identity = this.#api.tryResolve<IdentityServiceView>('identity');
    if (identity) {
      for (const event of IDENTITY_EVENTS) {
        this.#on(identity, event, () => {
          if (event === 'unlocked') {
            this.attachChat();
            // The chat service may be registered by another 'unlocked' listener that runs after ours.
            setImmediate(() => this.attachChat());
          }
          this.#send({ type: 'identity', status: publicStatus(identity.status()) });
        });
      }
    }
    if (!identity || identity.status().state === 'unlocked') this.attachChat();
    const files = this.#api.tryResolve<FileShareServiceView>('fileShare');
    if (files && typeof files.on === 'function') {
      const subscribable = files as FileShareServiceView & Subscribable;
      for (const event of FILE_EVENTS) {
        this.#on(subscribable, event, (transfer: unknown) =>
          this.#send({ type: 'file', transfer: transferWithChats(files, (transfer ?? {}) as Record<string, unknown>, chatNamer(this.#api)) }),
        );
      }
    }
  }

  stop(): void {
    this.#started = false;
    for (const { target, event, listener } of this.#subscriptions.splice(0)) unsubscribe(target, event, listener);
    this.#chat = undefined;
    this.#markers = null;
  }

  /** The chat service appears at the first unlock; it is subscribed once. Cheap: routes call it too. */
  attachChat(): void {
    if (!this.#started) return;
    const chat = this.#api.tryResolve<ChatServiceView>('chat');
    if (!chat || chat === this.#chat) return;
    // A new unlock brings a new chat service: the old one's listeners go.
    const old = this.#chat;
    if (old) {
      for (const sub of this.#subscriptions.filter((x) => x.target === old)) {
        unsubscribe(sub.target, sub.event, sub.listener);
        this.#subscriptions.splice(this.#subscriptions.indexOf(sub), 1);
      }
    }
    this.#chat = chat;
    this.#markers?.reset();
    for (const event of CHAT_EVENTS) {
      this.#on(chat, event, (chatId: unknown, detail: any) => {
        if (event === 'message' && detail && !detail.outgoing) this.countIncoming(Number(chatId), Number(detail.seq) || 0);
        this.#send(chatEvent(event, chatId, detail));
      });
    }
    for (const event of INVITATION_EVENTS) this.#on(chat, event, (first: unknown, second: unknown) => this.#send(invitationEvent(event, first, second)));
  }

  unreadOf(chatId: number): number {
    return this.#markers?.unreadOf(chatId) ?? 0;
  }

  markRead(chatId: number, seq: number): void {
    this.#markers?.markRead(chatId, seq);
  }

  countIncoming(chatId: number, seq: number): void {
    try {
      this.#markers?.countIncoming(chatId, seq);
    } catch (err) {
      // A count lost (the database closing under a late event) must not stop the event itself.
      this.#api.logger.warn({ err }, 'could not count an unread message');
    }
  }

  forget(chatId: number): void {
    this.#markers?.forget(chatId);
  }

  #on(target: Subscribable, event: string, listener: Listener): void {
    target.on(event, listener);
    this.#subscriptions.push({ target, event, listener });
  }

  #send(event: UiEvent): void {
    this.stats.forwarded++;
    this.#publish(event);
  }
}
