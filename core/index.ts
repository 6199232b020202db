/**
 * The public API of bitchat's kernel: what plugins (built-in and community)
 * and embedding applications import as `bitchat`.
 */
export { Kernel, type KernelOptions, type KernelState, type PluginStatus } from './kernel.js';
export { definePlugin, type PluginApi, type PluginDefinition, type JsonSchema, type ServiceMap } from './plugin.js';
export type { KernelHooks, HookName, TapOnly, TapOnlyHooks } from './hooks.js';
export { loadConfig, resolveConfig, embeddedDefaultConfig, defaultHome, CORE_CONFIG_SCHEMA, type KernelConfig } from './config.js';
export { Storage, type Migration, type MigrationRegistry } from './storage.js';
export { createLogger, type Logger } from './logger.js';
export { BUILT_IN_PLUGINS, type InlinePlugin } from './plugin-loader.js';
export * from './connection/index.js';
export {
  SecureChannel,
  SecureChannelError,
  SC_ERROR,
  DEFAULT_SUITES,
  verifyPeerWithHook,
  type SecureChannelOptions,
  type SecureChannelStats,
  type SuiteName,
  type PeerVerdict,
} from './secure-channel/index.js';
export { OPEN_NETWORK_POLICY, networkPolicyOf, type NetworkPolicy, type NetworkMode, type ProxiedAgents } from './network-policy.js';
export { untilInterrupted } from './interrupt.js';
export { BitChatError, ConfigError, PluginError, StorageError, ServiceError, hasCode } from './errors.js';
export type * from './types.js';
export * as identity from './identity/index.js';
export * from './node/index.js';
