/** Chat networks: what core/index.ts re-exports for plugins, the UI and the CLI. */
export { ChatService, type ChatServiceComponents } from './chat-service.js';
export { ChatMesh, type ChatMeshOptions, type MeshStatus, storeOutgoingText } from './mesh.js';
export type { ChatSession, Scheduler } from './session.js';
export { admitIdentity, type Admission, type MembershipPolicy } from './membership.js';
export { HistoryStore, type ChatKind, type ChatRecord, type StoredMessage, type Page, type PageCursor, type SearchOptions, type SearchResult } from './history-store.js';
export { CHAT_MIGRATIONS } from './history-migrations.js';
export { ChatMessageTypes, type MessageTypeEntry } from './message-types.js';
export * as messageTypes from './message-types.js';
export { decodeMessage, encodeMessage, encodePeerExchange, type ChatMessage, type PeerInfo, type HistoryRecord, MAX_MESSAGE_SIZE } from './message-codec.js';
export { HybridLogicalClock, compareHlc, type Hlc } from './hlc.js';
export {
  channelName,
  deriveGroupKeys,
  derivePrivateKeys,
  derivePrivateKeysFromSalt,
  hashedEmail,
  maskedEmail,
  privateChatSalt,
  normaliseEmail,
  type NetworkKeys,
} from './network-id.js';
export { ChatError } from './errors.js';
export * as chatErrors from './errors.js';
