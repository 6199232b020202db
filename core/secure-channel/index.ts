export { SecureChannel } from './channel.js';
export type { PeerVerdict, SecureChannelIdentity, SecureChannelOptions, SecureChannelRole, SecureChannelStats } from './channel.js';
export { SC_ERROR, SecureChannelError } from './errors.js';
export { KeySharePool, keySharePool } from './key-share-pool.js';
export type { KeySharePoolOptions, KeySharePoolStats } from './key-share-pool.js';
export type { SecureChannelErrorCode } from './errors.js';
export { DEFAULT_SUITES, SUITE, SUITE_NAMES } from './suites.js';
export type { SuiteId, SuiteName } from './suites.js';
export { NO_VERDICT_CODE, verifyPeerWithHook } from './verify-peer.js';
