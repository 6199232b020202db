/**
 * Message type numbers (spec §4.4 numbering, extended) and the registry that plugins
 * extend through `hooks.registerMessageTypes`.
 *
 * Core owns 0–9. 10–15 are spec §4.4's file-sharing numbers, left for the file-share
 * plugin to register. Any other free number up to 255 may be registered by a plugin;
 * a number is owned by the first registrant. A type nobody registered is ignored on
 * receipt (spec §4.4).
 */
import type { MessageTypeRegistry } from '../types.js';
import { ChatError, ERR_CHAT_BAD_INPUT, ERR_CHAT_TYPE_TAKEN } from './errors.js';

export const MSG_NOOP = 0;
export const MSG_PEER_EXCHANGE = 1;
export const MSG_TEXT = 2;
export const MSG_DELIVERY = 3;
export const MSG_TYPING = 4;
export const MSG_PROFILE_IMAGE = 5;
export const MSG_GROUP_IMAGE = 6;
/** New (spec leaves 7–9 unused): history sync, DESIGN §2b. */
export const MSG_HISTORY_REQUEST = 7;
export const MSG_HISTORY_INVENTORY = 8;
export const MSG_HISTORY_MESSAGES = 9;
export const MAX_MESSAGE_TYPE = 0xff;
export const CORE_OWNER = 'core';

const CORE_TYPES: ReadonlyArray<[number, string]> = [
  [MSG_NOOP, 'noop'],
  [MSG_PEER_EXCHANGE, 'peer-exchange'],
  [MSG_TEXT, 'text'],
  [MSG_DELIVERY, 'delivery'],
  [MSG_TYPING, 'typing'],
  [MSG_PROFILE_IMAGE, 'profile-image'],
  [MSG_GROUP_IMAGE, 'group-image'],
  [MSG_HISTORY_REQUEST, 'history-request'],
  [MSG_HISTORY_INVENTORY, 'history-inventory'],
  [MSG_HISTORY_MESSAGES, 'history-messages'],
];

export interface MessageTypeEntry {
  type: number;
  name: string;
  owner: string;
}

/** One per node (never module-level: several nodes share a process). */
export class ChatMessageTypes implements MessageTypeRegistry {
  private readonly byType = new Map<number, MessageTypeEntry>();

  constructor() {
    for (const [type, name] of CORE_TYPES) this.byType.set(type, { type, name, owner: CORE_OWNER });
  }

  register(type: number, name: string, owner: string): void {
    if (!Number.isInteger(type) || type < 0 || type > MAX_MESSAGE_TYPE) {
      throw new ChatError(ERR_CHAT_BAD_INPUT, `message type must be 0..${MAX_MESSAGE_TYPE}, got ${type}`);
    }
    if (owner === CORE_OWNER) throw new ChatError(ERR_CHAT_BAD_INPUT, `owner name '${CORE_OWNER}' is reserved`);
    const existing = this.byType.get(type);
    if (existing) {
      // Registering the same thing twice (a plugin applied twice) is harmless.
      if (existing.owner === owner && existing.name === name) return;
      throw new ChatError(ERR_CHAT_TYPE_TAKEN, `message type ${type} is already '${existing.name}' of ${existing.owner}`);
    }
    this.byType.set(type, { type, name, owner });
  }

  get(type: number): MessageTypeEntry | undefined {
    return this.byType.get(type);
  }

  isCore(type: number): boolean {
    return this.byType.get(type)?.owner === CORE_OWNER;
  }

  list(): MessageTypeEntry[] {
    return [...this.byType.values()].sort((a, b) => a.type - b.type);
  }
}
