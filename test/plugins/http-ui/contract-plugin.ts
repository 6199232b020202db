/**
 * A stand-in for the chat wiring, honouring the contract the web UI is built
 * against: an `identity` service (create / unlock / lock, 'unlocked' / 'locked'
 * events) and, once unlocked, a `chat` service backed by the real ChatService
 * and HistoryStore on the kernel's database. Networking is left out: the real
 * wiring replaces this plugin in the two-node test.
 */
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { BitChatError } from '../../../core/errors.js';
import { definePlugin } from '../../../core/plugin.js';
import { CHAT_MIGRATIONS, ChatService, HistoryStore, type PageCursor } from '../../../core/chat/index.js';
import type { IdentityStatus } from '../../../plugins/http-ui/contract.js';

export const FAKE_FINGERPRINT = 'ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12';
export const FAKE_SAFETY_NUMBER = '12345 67890 12345 67890';

export class FakeChat extends EventEmitter {
  readonly service: ChatService;
  readonly store: HistoryStore;

  constructor(store: HistoryStore, self: string) {
    super();
    this.store = store;
    this.service = new ChatService({ store, selfIdentity: self });
    for (const name of ['message', 'delivery', 'typing'] as const) this.service.on(name, (chatId: number, detail: unknown) => this.emit(name, chatId, detail));
    this.service.on('member-online', (chatId: number, identity: string) => this.emit('member', chatId, { identity, online: true }));
    this.service.on('member-offline', (chatId: number, identity: string) => this.emit('member', chatId, { identity, online: false }));
    this.service.on('mesh-status', (chatId: number, status: string) => this.emit('mesh', chatId, status));
  }

  summary(chatId: number): unknown {
    return (this.list() as Array<{ chatId: number }>).find((c) => c.chatId === chatId);
  }

  list(): unknown[] {
    // The shape of the chat wiring's ChatSummary: no unread counts, member names only.
    return this.service.chats().map((record) => {
      const online = this.service.isOnline(record.chatId);
      return { chatId: record.chatId, kind: record.kind, name: record.name, online, mesh: online ? this.service.meshStatus(record.chatId) : 'none', members: this.store.members(record.chatId) };
    });
  }

  async createGroup(name: string, secret?: string): Promise<unknown> {
    const record = await this.service.createGroup(name, secret !== undefined ? { sharedSecret: secret } : {});
    await this.service.goOnline(record.chatId);
    return this.summary(record.chatId);
  }

  async openPrivateChat(email: string, secret?: string): Promise<unknown> {
    const record = await this.service.openPrivateChat(email, secret !== undefined ? { sharedSecret: secret } : {});
    await this.service.goOnline(record.chatId);
    return this.summary(record.chatId);
  }

  send(chatId: number, text: string): unknown {
    return this.service.send(chatId, text);
  }

  history(chatId: number, options: { before?: PageCursor; limit: number }): unknown {
    // Like the chat wiring: stored messages without delivery rows (the UI reads them from `store`).
    return this.service.history(chatId, options);
  }

  search(query: string, options?: { chatId?: number; limit?: number }): unknown {
    return this.service.search(query, options);
  }

  typing(chatId: number): boolean {
    return this.service.sendTyping(chatId);
  }

  members(chatId: number): unknown[] {
    const online = new Set(this.service.onlineMembers(chatId));
    return this.store.members(chatId).map((identity) => ({ identity, online: online.has(identity), safetyNumber: FAKE_SAFETY_NUMBER }));
  }

  async leave(chatId: number): Promise<void> {
    await this.service.goOffline(chatId);
    this.store.deleteChat(chatId);
  }
}

export class FakeIdentity extends EventEmitter {
  #state: IdentityStatus = { state: 'none' };
  #hash: Buffer | null = null;
  #salt = randomBytes(16);
  readonly #onUnlock: (email: string) => void;

  constructor(onUnlock: (email: string) => void) {
    super();
    this.#onUnlock = onUnlock;
  }

  status(): IdentityStatus {
    return { ...this.#state };
  }

  async create(input: { name: string; email: string; password: string; mode: 'self' }, onProgress?: (p: unknown) => void): Promise<void> {
    if (this.#state.state !== 'none') throw new BitChatError('ERR_IDENTITY_EXISTS', 'a profile exists already');
    // The identity layer's progress shape: a phase's start, ticks of elapsed time, done.
    for (const phase of ['keygen', 'kdf']) {
      const started = Date.now();
      onProgress?.({ phase, state: 'start', elapsedMs: 0 });
      for (let tick = 0; tick < 3; tick++) {
        await new Promise((resolve) => setTimeout(resolve, 120));
        onProgress?.({ phase, state: 'tick', elapsedMs: Date.now() - started });
      }
      onProgress?.({ phase, state: 'done', elapsedMs: Date.now() - started });
    }
    this.#hash = scryptSync(input.password, this.#salt, 32);
    this.#state = { state: 'locked', email: input.email.toLowerCase(), name: input.name, fingerprint: FAKE_FINGERPRINT, safetyNumber: FAKE_SAFETY_NUMBER };
    await this.unlock(input.password);
  }

  async unlock(password: string): Promise<void> {
    if (this.#state.state === 'none' || !this.#hash) throw new BitChatError('ERR_IDENTITY_NO_PROFILE', 'no profile yet');
    if (!timingSafeEqual(scryptSync(password, this.#salt, 32), this.#hash)) throw new BitChatError('ERR_IDENTITY_BAD_PASSWORD', 'wrong password');
    this.#state = { ...this.#state, state: 'unlocked' };
    this.#onUnlock(this.#state.email!);
    this.emit('unlocked');
  }

  lock(): void {
    if (this.#state.state !== 'unlocked') return;
    this.#state = { ...this.#state, state: 'locked' };
    this.emit('locked');
  }
}

/** The plugin: `identity` from the start, `chat` from the first unlock. */
export function contractPlugin(): { definition: ReturnType<typeof definePlugin>; chat(): FakeChat | undefined } {
  let chat: FakeChat | undefined;
  const definition = definePlugin({
    name: 'contract-stand-in',
    version: '0.0.0',
    apply(api) {
      api.hooks.migrations.tap('contract-stand-in', (registry) => {
        for (const m of CHAT_MIGRATIONS) {
          try {
            registry.add(m);
          } catch (err) {
            // A kernel with the chat wiring registers core's chat schema itself (earlier stage).
            if ((err as { code?: string }).code !== 'ERR_STORAGE_MIGRATION_DUPLICATE') throw err;
          }
        }
      });
      const identity = new FakeIdentity((email) => {
        if (chat) return;
        chat = new FakeChat(new HistoryStore(api.resolve('storage').db, randomBytes(32)), email);
        // Untyped on purpose: the real services' types (ServiceMap) are richer than this stand-in.
        (api.register as (name: string, value: unknown) => void)('chat', chat);
      });
      (api.register as (name: string, value: unknown) => void)('identity', identity);
      api.hooks.stop.tapPromise('contract-stand-in', async () => {
        await chat?.service.stop();
      });
    },
  });
  return { definition, chat: () => chat };
}
