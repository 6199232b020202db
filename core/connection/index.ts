/** The connection layer: TCP links, handshake, frames, virtual channels, tunnels. */
export * from './constants.js';
export * from './errors.js';
export { encodeFrame, decodeFrame, FrameDecoder, type Frame } from './frame.js';
export {
  encodeHandshakeRequest,
  decodeHandshakeRequest,
  encodeHandshakeResponse,
  decodeHandshakeResponse,
  type HandshakeRequest,
  type HandshakeResponse,
} from './handshake.js';
export { encodeEpn, decodeEpn, endpointKey, normalizeHost } from './endpoint.js';
export { prefers, type DuplicateCandidate } from './duplicates.js';
export { VirtualChannel, type ChannelState } from './channel.js';
export { Connection, type ChannelRequest, type ConnectionInit, type TrafficCounters } from './connection.js';
export { dialTcp, tapDirectDial, DIRECT_DIAL_STAGE, DIRECT_DIAL_TAP } from './dial.js';
export { type TunnelCounters, type TunnelDecision, type TunnelPolicy } from './tunnel.js';
export { RateGate, type SpliceOptions } from './splice.js';
export {
  ConnectionManager,
  type ConnectionManagerOptions,
  type ConnectionManagerStats,
  type ChannelHandler,
  type SignalHandler,
} from './manager.js';
