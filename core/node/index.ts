/** The node's identity and chats wired into the kernel (services `identity` and `chat`). */
import type { ChatNode } from './chat-node.js';
import type { IdentityService } from './identity-service.js';

declare module '../plugin.js' {
  interface ServiceMap {
    identity: IdentityService;
    chat: ChatNode;
  }
}

export { ChatNode, type ChatNodeOptions, type ChatSummary, type MemberInfo, HISTORY_KEY_SETTING, CHAT_SECRETS_SETTING } from './chat-node.js';
export { ChatTransport, type ChatTransportOptions, type ChatTransportStats } from './chat-transport.js';
export { IdentityService, type IdentityStatus, type CreateProfileInput, type IdentityServiceOptions } from './identity-service.js';
export { NodeRuntime, type NodeHost, type NodeRuntimeOptions } from './runtime.js';
export { SecureChatSession, peerCertificateOf, type PeerCertificate } from './secure-session.js';
export { encodeSessionFrame, decodeSessionFrame, SessionFrameDecoder, type SessionFrame, MESSAGE_PORT, SESSION_FRAME_HEADER } from './session-frame.js';
export { NodeError } from './errors.js';
export * as nodeErrors from './errors.js';
