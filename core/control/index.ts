/** The local control socket: a running node's methods for the CLI and local tools (docs/protocol/control.md). */
export { ControlServer, type ControlServerOptions, type ControlServerStats, MAX_CONNECTIONS, MAX_PENDING_PER_CONNECTION, MAX_QUEUED_BYTES } from './server.js';
export { ControlClient, InProcessCaller, type ControlCaller, type CallOptions } from './client.js';
export { ControlMethods, type ControlMethod, type ControlMethodRegistry, type ControlContext } from './registry.js';
export { controlSocketPath, probeSocket } from './socket-file.js';
export { CONTROL_PROTOCOL_VERSION, MAX_REQUEST_BYTES, decodeRequest, LineSplitter } from './protocol.js';
export { registerCoreMethods, type ControlHost, type ChatJson, type MessageJson, type NodeStatusJson, type SendResultJson } from './chat-methods.js';
export { ControlError, ControlErrorCode, RemoteError } from './errors.js';
