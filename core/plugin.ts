import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { TapOnlyHooks } from './hooks.js';
import type { KernelConfig } from './config.js';
import type { Endpoint, NetworkId, DiscoverySource } from './types.js';

/** A JSON Schema (draft 2020-12 subset that ajv understands) for a plugin's options. */
export type JsonSchema = Record<string, unknown>;

/**
 * Services a kernel can hand out by name. Plugins that share a service add it
 * here by declaration merging, so `resolve('name')` is typed for their users:
 *
 *     declare module 'bitchat' { interface ServiceMap { dht: DhtService } }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface ServiceMap {}

/** What a plugin's `apply` gets: tap-only hooks, its logger, and the service registry. */
export interface PluginApi {
  /** The plugin's own name. */
  readonly name: string;
  /** Kernel hooks, tap-only. Taps are recorded under the plugin's name. */
  readonly hooks: TapOnlyHooks;
  /** A logger bound to `{ plugin: name }`. */
  readonly logger: Logger;
  /** The whole validated config (read-only). */
  readonly config: Readonly<KernelConfig>;
  /** The node's data folder (absolute). */
  readonly dataDir: string;
  /** Share a service with the kernel and other plugins. */
  register<K extends string>(name: K, value: K extends keyof ServiceMap ? ServiceMap[K] : unknown): void;
  /** A service registered by core or another plugin; throws ERR_SERVICE_NOT_REGISTERED when absent. */
  resolve<K extends keyof ServiceMap>(name: K): ServiceMap[K];
  resolve<T = unknown>(name: string): T;
  /** Like `resolve`, but `undefined` when absent (for optional collaborations). */
  tryResolve<K extends keyof ServiceMap>(name: K): ServiceMap[K] | undefined;
  tryResolve<T = unknown>(name: string): T | undefined;
  /** For the plugin that owns the local HTTP server (http-ui): let every plugin add routes (calls `hooks.httpRoutes`). */
  invokeHttpRoutes(app: FastifyInstance): Promise<void>;
  /** Report a peer end point for a network (calls `hooks.peerDiscovered`). */
  reportPeer(networkId: NetworkId, endpoint: Endpoint, source: DiscoverySource): void;
}

/** A plugin: a name, what it needs, its options schema, and `apply`. */
export interface PluginDefinition<Options = Record<string, unknown>> {
  /** Unique name; built-in plugins use their folder name. */
  name: string;
  /** The plugin's own version (semver). */
  version: string;
  /** Other plugins that must load first (by name). */
  requires?: string[];
  /** JSON Schema of the options object; defaults in it are applied before `apply`. */
  optionsSchema?: JsonSchema;
  /** One line shown by `bitchat plugins`. */
  description?: string;
  /** Tap hooks and register services. May be async. Must not open sockets: do that in `hooks.start`. */
  apply(api: PluginApi, options: Options): void | Promise<void>;
}

/** Identity function that gives a plugin definition its types. */
export function definePlugin<Options = Record<string, unknown>>(definition: PluginDefinition<Options>): PluginDefinition<Options> {
  return definition;
}
