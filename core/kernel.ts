import { asValue, createContainer, type AwilixContainer } from 'awilix';
import type { FastifyInstance } from 'fastify';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { KernelConfig } from './config.js';
import { ConnectionManager, tapDirectDial } from './connection/index.js';
import { ControlMethods } from './control/registry.js';
import { ControlServer } from './control/server.js';
import { controlSocketPath } from './control/socket-file.js';
import { registerCoreMethods } from './control/chat-methods.js';
import { BitChatError, PluginError, ServiceError } from './errors.js';
import { createHooks, type HookName, type KernelHooks, type TapOnlyHooks } from './hooks.js';
import { createLogger } from './logger.js';
import type { PluginApi, ServiceMap } from './plugin.js';
import {
  configDirOf,
  loadPlugin,
  orderByRequirements,
  prepareInline,
  type InlinePlugin,
  type LoadedPlugin,
  type PluginOrigin,
} from './plugin-loader.js';
import { networkPolicyOf } from './network-policy.js';
import { DATABASE_FILE_NAME, MigrationList, Storage } from './storage.js';
import { NodeRuntime, type NodeRuntimeOptions } from './node/index.js';
import type { DiscoverySource, Endpoint, NetworkId } from './types.js';

declare module './plugin.js' {
  interface ServiceMap {
    config: KernelConfig;
    logger: Logger;
    storage: Storage;
    connections: ConnectionManager;
    plugins: PluginDirectory;
  }
}

/** Read-only view of the plugins, for the UI and tools. */
export interface PluginDirectory {
  status(): readonly PluginStatus[];
}

export type KernelState = 'created' | 'starting' | 'running' | 'stopping' | 'stopped';

/** One line of `bitchat plugins`: what was asked for, and what became of it. */
export interface PluginStatus {
  spec: string;
  name: string;
  origin: PluginOrigin | 'unknown';
  version?: string;
  description?: string;
  state: 'loaded' | 'disabled' | 'failed';
  /** Why it is disabled or failed. */
  reason?: string;
  /** Error code when it failed. */
  code?: string;
  /** Hooks the plugin tapped. */
  taps: HookName[];
}

export interface KernelOptions extends NodeRuntimeOptions {
  config: KernelConfig;
  /** Defaults to a pino logger on stderr at `config.logLevel`. */
  logger?: Logger;
  /** Plugins given as objects, after those in the config (tests, embedding apps). */
  plugins?: InlinePlugin[];
  /**
   * Keep going when a plugin fails to load, recording it in `pluginStatus()`
   * (for `bitchat plugins`); a node that is to run fails instead.
   */
  tolerant?: boolean;
  /** Listen on the local control socket (`<dataDir>/control/node.sock`) while running. @default true */
  control?: boolean;
}

const HOOK_NAMES = Object.keys(createHooks()) as HookName[];

/**
 * A node: its config, hooks, services and plugins, and the start/stop
 * lifecycle. Nothing is module-level, so many kernels share one process.
 */
export class Kernel {
  readonly config: KernelConfig;
  readonly logger: Logger;
  /** The callable hooks; plugins see a tap-only view. */
  readonly hooks: KernelHooks = createHooks();
  readonly container: AwilixContainer<ServiceMap>;
  readonly storage: Storage;
  /** The connection layer: listener, dials (through `hooks.dial`), channels, tunnels. */
  readonly connections: ConnectionManager;
  #state: KernelState = 'created';
  #plugins: LoadedPlugin[] = [];
  #status: PluginStatus[] = [];
  #stopErrors: Error[] = [];
  #node!: NodeRuntime;
  #controlEnabled = true;
  #controlMethods: ControlMethods | undefined;
  #control: ControlServer | undefined;

  private constructor(config: KernelConfig, logger: Logger) {
    this.config = config;
    this.logger = logger;
    this.storage = new Storage(join(config.dataDir, DATABASE_FILE_NAME));
    this.connections = new ConnectionManager({ hooks: this.hooks, logger, listen: config.listen });
    tapDirectDial(this.hooks);
    this.container = createContainer<ServiceMap>({ strict: true });
    this.container.register({
      config: asValue(config),
      logger: asValue(logger),
      storage: asValue(this.storage),
      connections: asValue(this.connections),
      plugins: asValue({ status: () => this.pluginStatus() }),
    });
  }

  /** Loads, orders and applies the config's plugins; does not start anything. */
  static async create(options: KernelOptions): Promise<Kernel> {
    const logger = options.logger ?? createLogger(options.config.logLevel);
    const kernel = new Kernel(options.config, logger);
    kernel.#controlEnabled = options.control ?? true;
    kernel.#node = new NodeRuntime(
      {
        hooks: kernel.hooks,
        connections: kernel.connections,
        storage: kernel.storage,
        logger,
        profilePath: options.config.profile,
        register: (name, value) => kernel.container.register(name, asValue(value)),
        tryResolve: (name) => kernel.tryResolve(name),
      },
      options,
    );
    await kernel.#loadPlugins(options);
    return kernel;
  }

  get state(): KernelState {
    return this.#state;
  }

  /** The control methods (core's and plugins'), once the kernel started; the CLI calls them in-process when it runs the node itself. */
  get controlMethods(): ControlMethods | undefined {
    return this.#controlMethods;
  }

  /** The control socket while it listens (not when disabled or when it could not start). */
  get controlServer(): ControlServer | undefined {
    return this.#control;
  }

  /** Every plugin the config names, loaded or not, with why and what it taps. */
  pluginStatus(): readonly PluginStatus[] {
    return this.#status;
  }

  resolve<K extends keyof ServiceMap>(name: K): ServiceMap[K];
  resolve<T = unknown>(name: string): T;
  resolve(name: string): unknown {
    if (!this.container.hasRegistration(name)) {
      throw new ServiceError('ERR_SERVICE_NOT_REGISTERED', `no service "${name}" is registered (is the plugin that provides it enabled?)`);
    }
    const value = this.container.resolve(name as keyof ServiceMap) as unknown;
    // A service withdrawn at run time (e.g. `chat` after the profile is locked) is registered as undefined.
    if (value === undefined) throw new ServiceError('ERR_SERVICE_NOT_REGISTERED', `service "${name}" is not available now`);
    return value;
  }

  tryResolve(name: string): unknown {
    return this.container.hasRegistration(name) ? this.container.resolve(name as keyof ServiceMap) : undefined;
  }

  /** Opens storage, applies migrations, then runs `hooks.start` in plugin order. */
  async start(): Promise<void> {
    if (this.#state !== 'created') throw new BitChatError('ERR_KERNEL_STATE', `cannot start a kernel that is ${this.#state}`);
    this.#state = 'starting';
    try {
      this.storage.open();
      const migrations = new MigrationList();
      this.hooks.migrations.call(migrations);
      this.storage.migrate(migrations.all);
      await this.connections.start({ listen: networkPolicyOf(this).allowListen });
      await this.hooks.start.promise();
      await this.#node.start();
      await this.#startControl();
    } catch (err) {
      // Whatever did start is closed again: stop taps tolerate a partial start.
      await this.#runStop();
      throw err;
    }
    this.#state = 'running';
    this.logger.info({ plugins: this.#plugins.map((p) => p.definition.name) }, 'node started');
  }

  /**
   * Runs every `hooks.stop` tap in reverse plugin order, even when one fails,
   * then closes storage. Rejects with the first failure once all have run.
   */
  async stop(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'stopping') return;
    if (this.#state === 'created') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopping';
    await this.#runStop();
    this.logger.info('node stopped');
    if (this.#stopErrors.length) throw this.#stopErrors[0];
  }

  /** Calls a notification hook; a failing tap is logged, never thrown into the caller's I/O path. */
  notify<K extends 'peerDiscovered' | 'connection' | 'disconnection'>(hook: K, ...args: Parameters<KernelHooks[K]['call']>): void {
    try {
      (this.hooks[hook].call as (...a: unknown[]) => void)(...args);
    } catch (err) {
      this.logger.error({ err, hook }, 'a hook tap failed');
    }
  }

  /** Collects the control methods and, last (the node is whole by then), opens the control socket. */
  async #startControl(): Promise<void> {
    const methods = new ControlMethods();
    registerCoreMethods(methods, this);
    this.hooks.controlMethods.call(methods);
    this.#controlMethods = methods;
    if (!this.#controlEnabled) return;
    const server = new ControlServer({ path: controlSocketPath(this.config.dataDir), methods, logger: this.logger.child({ component: 'control' }) });
    try {
      await server.start();
      this.#control = server;
    } catch (err) {
      // The node still chats; only the CLI of another terminal cannot reach it.
      this.logger.warn({ err }, 'the control socket did not start');
    }
  }

  async #runStop(): Promise<void> {
    this.#stopErrors = [];
    this.#state = 'stopping';
    // First: no local request may run while the node takes itself apart.
    const control = this.#control;
    this.#control = undefined;
    await control?.stop().catch((err: unknown) => this.logger.warn({ err }, 'the control socket did not close cleanly'));
    try {
      await this.#node.stop();
    } catch (err) {
      this.#stopErrors.push(err as Error);
    }
    try {
      await this.hooks.stop.promise();
    } catch (err) {
      this.#stopErrors.push(err as Error);
    }
    await this.connections.stop();
    this.storage.close();
    this.#state = 'stopped';
  }

  async #loadPlugins(options: KernelOptions): Promise<void> {
    const configDir = configDirOf(this.config.source);
    const loaded: LoadedPlugin[] = [];
    const fail = (spec: string, err: unknown): void => {
      const error = err instanceof BitChatError ? err : new PluginError('ERR_PLUGIN_LOAD_FAILED', spec, String(err), { cause: err });
      if (!options.tolerant) throw error;
      this.#status.push({ spec, name: spec, origin: 'unknown', state: 'failed', reason: error.message, code: error.code, taps: [] });
    };
    for (const [spec, pluginOptions] of Object.entries(this.config.plugins)) {
      if (pluginOptions === false) {
        this.#status.push({ spec, name: spec, origin: 'unknown', state: 'disabled', reason: 'set to false in the config', taps: [] });
        continue;
      }
      try {
        loaded.push(await loadPlugin(spec, pluginOptions, configDir));
      } catch (err) {
        fail(spec, err);
      }
    }
    for (const inline of options.plugins ?? []) {
      try {
        loaded.push(prepareInline(inline));
      } catch (err) {
        fail(inline.definition?.name ?? '(inline)', err);
      }
    }
    let ordered: LoadedPlugin[];
    try {
      ordered = orderByRequirements(loaded);
    } catch (err) {
      fail((err as PluginError).plugin, err);
      ordered = [];
    }
    for (const [index, plugin] of ordered.entries()) {
      const taps: HookName[] = [];
      const { definition } = plugin;
      try {
        await definition.apply(this.#pluginApi(definition.name, index, taps), plugin.options);
      } catch (err) {
        const error =
          err instanceof BitChatError
            ? err
            : new PluginError('ERR_PLUGIN_APPLY_FAILED', definition.name, `plugin "${definition.name}" failed to apply: ${(err as Error)?.message ?? err}`, { cause: err });
        fail(plugin.spec, error);
        continue;
      }
      this.#plugins.push(plugin);
      this.#status.push({
        spec: plugin.spec,
        name: definition.name,
        origin: plugin.origin,
        version: definition.version,
        ...(definition.description ? { description: definition.description } : {}),
        state: 'loaded',
        taps,
      });
    }
  }

  #pluginApi(name: string, index: number, taps: HookName[]): PluginApi {
    const kernel = this;
    return Object.freeze({
      name,
      hooks: this.#tapOnlyHooks(name, index, taps),
      logger: this.logger.child({ plugin: name }),
      config: this.config,
      dataDir: this.config.dataDir,
      register(service: string, value: unknown) {
        if (kernel.container.hasRegistration(service)) {
          throw new ServiceError('ERR_SERVICE_DUPLICATE', `plugin "${name}" registers service "${service}", which is already registered`);
        }
        kernel.container.register(service, asValue(value));
      },
      resolve: (service: string) => kernel.resolve(service),
      tryResolve: (service: string) => kernel.tryResolve(service),
      invokeHttpRoutes: (app: FastifyInstance) => kernel.hooks.httpRoutes.promise(app),
      reportPeer(networkId: NetworkId, endpoint: Endpoint, source: DiscoverySource) {
        kernel.notify('peerDiscovered', networkId, endpoint, source);
      },
    }) as PluginApi;
  }

  /**
   * A per-plugin view of the hooks: taps are named after the plugin, errors
   * they throw name the plugin and the hook, and `stop` taps run in reverse
   * load order.
   */
  #tapOnlyHooks(plugin: string, index: number, taps: HookName[]): TapOnlyHooks {
    const view: Record<string, unknown> = {};
    for (const hookName of HOOK_NAMES) {
      const hook = this.hooks[hookName] as unknown as GenericHook;
      const options = (given: unknown): { name: string; stage?: number; before?: string } => {
        const base = typeof given === 'object' && given !== null ? (given as { stage?: number; before?: string }) : {};
        if (!taps.includes(hookName)) taps.push(hookName);
        const stage = base.stage ?? (hookName === 'stop' ? -index : undefined);
        return { ...(base.before ? { before: base.before } : {}), ...(stage !== undefined ? { stage } : {}), name: plugin };
      };
      const wrapError = (err: unknown): Error =>
        err instanceof PluginError
          ? err
          : new PluginError('ERR_PLUGIN_HOOK_FAILED', plugin, `plugin "${plugin}" failed in hook "${hookName}": ${(err as Error)?.message ?? err}`, {
              cause: err,
              hook: hookName,
            });
      // A failing stop tap must not keep later ones from closing their resources.
      const fail = (err: unknown): void => {
        const error = wrapError(err);
        if (hookName !== 'stop') throw error;
        this.#stopErrors.push(error);
        this.logger.error({ err: error }, 'a plugin failed to stop cleanly');
      };
      view[hookName] = Object.freeze({
        tap: (given: unknown, fn: (...args: unknown[]) => unknown) =>
          hook.tap(options(given), (...args: unknown[]) => {
            try {
              return fn(...args);
            } catch (err) {
              return fail(err);
            }
          }),
        tapPromise: (given: unknown, fn: (...args: unknown[]) => Promise<unknown>) =>
          hook.tapPromise(options(given), async (...args: unknown[]) => {
            try {
              return await fn(...args);
            } catch (err) {
              return fail(err);
            }
          }),
        tapAsync: (given: unknown, fn: (...args: unknown[]) => void) =>
          hook.tapAsync(options(given), (...args: unknown[]) => {
            const callback = args.pop() as (err?: unknown, result?: unknown) => void;
            const done = (err?: unknown, result?: unknown): void => {
              if (!err) return callback(null, result);
              try {
                fail(err);
                callback(null);
              } catch (error) {
                callback(error);
              }
            };
            try {
              fn(...args, done);
            } catch (err) {
              done(err);
            }
          }),
        isUsed: () => hook.isUsed(),
      });
    }
    return Object.freeze(view) as unknown as TapOnlyHooks;
  }
}

interface GenericHook {
  tap(options: object, fn: (...args: unknown[]) => unknown): void;
  tapPromise(options: object, fn: (...args: unknown[]) => Promise<unknown>): void;
  tapAsync(options: object, fn: (...args: unknown[]) => void): void;
  isUsed(): boolean;
}
