import { AsyncParallelHook, AsyncSeriesBailHook, AsyncSeriesHook, SyncHook } from 'tapable';
import type { Argv } from 'yargs';
import type { FastifyInstance } from 'fastify';
import type {
  AnnounceRequest,
  CertificateCheck,
  CertificateVerdict,
  DialRequest,
  DiscoverySource,
  Endpoint,
  MessageEvent,
  MessageTypeRegistry,
  NetworkId,
  PeerConnectionInfo,
  PeerStream,
} from './types.js';
import type { MigrationRegistry } from './storage.js';
import type { ControlMethodRegistry } from './control/registry.js';

/**
 * Every extension point of the kernel, declared once. A kernel owns one frozen
 * instance; plugins see it through {@link TapOnlyHooks} and can tap, not call.
 */
export interface KernelHooks {
  /** The node starts: open listeners, sockets, timers. Taps run in plugin load order. */
  readonly start: AsyncSeriesHook<[]>;
  /** The node stops: close everything opened in `start`. Taps run in reverse load order. */
  readonly stop: AsyncSeriesHook<[]>;
  /** Open a byte stream to an end point; the first tap that returns a stream wins (core's direct TCP is last). */
  readonly dial: AsyncSeriesBailHook<[DialRequest], PeerStream | undefined>;
  /** Publish that this node is in a chat network, reachable on a port. */
  readonly announce: AsyncParallelHook<[AnnounceRequest]>;
  /** Withdraw an announcement (the chat went offline or the node stops). */
  readonly withdraw: AsyncParallelHook<[NetworkId]>;
  /** A discovery source found a peer end point for a network. */
  readonly peerDiscovered: SyncHook<[NetworkId, Endpoint, DiscoverySource]>;
  /** A connection to another node completed its handshake. */
  readonly connection: SyncHook<[PeerConnectionInfo]>;
  /** A connection to another node closed. */
  readonly disconnection: SyncHook<[PeerConnectionInfo]>;
  /** Judge a peer's certificate; the first tap with a verdict decides. */
  readonly verifyCertificate: AsyncSeriesBailHook<[CertificateCheck], CertificateVerdict | undefined>;
  /** A chat message arrived (after de-duplication). */
  readonly message: AsyncSeriesHook<[MessageEvent]>;
  /** Plugins register their message types. */
  readonly registerMessageTypes: SyncHook<[MessageTypeRegistry]>;
  /** Plugins add routes to the local HTTP API. */
  readonly httpRoutes: AsyncSeriesHook<[FastifyInstance]>;
  /** Plugins add CLI sub-commands. */
  readonly cliCommands: SyncHook<[Argv]>;
  /** Plugins register their database migrations. */
  readonly migrations: SyncHook<[MigrationRegistry]>;
  /** Plugins add methods to the local control socket (called once as the node starts). */
  readonly controlMethods: SyncHook<[ControlMethodRegistry]>;
}

export type HookName = keyof KernelHooks;

export function createHooks(): KernelHooks {
  return Object.freeze({
    start: new AsyncSeriesHook<[]>([], 'start'),
    stop: new AsyncSeriesHook<[]>([], 'stop'),
    dial: new AsyncSeriesBailHook<[DialRequest], PeerStream | undefined>(['request'], 'dial'),
    announce: new AsyncParallelHook<[AnnounceRequest]>(['request'], 'announce'),
    withdraw: new AsyncParallelHook<[NetworkId]>(['networkId'], 'withdraw'),
    peerDiscovered: new SyncHook<[NetworkId, Endpoint, DiscoverySource]>(['networkId', 'endpoint', 'source'], 'peerDiscovered'),
    connection: new SyncHook<[PeerConnectionInfo]>(['connection'], 'connection'),
    disconnection: new SyncHook<[PeerConnectionInfo]>(['connection'], 'disconnection'),
    verifyCertificate: new AsyncSeriesBailHook<[CertificateCheck], CertificateVerdict | undefined>(['check'], 'verifyCertificate'),
    message: new AsyncSeriesHook<[MessageEvent]>(['message'], 'message'),
    registerMessageTypes: new SyncHook<[MessageTypeRegistry]>(['registry'], 'registerMessageTypes'),
    httpRoutes: new AsyncSeriesHook<[FastifyInstance]>(['fastify'], 'httpRoutes'),
    cliCommands: new SyncHook<[Argv]>(['yargs'], 'cliCommands'),
    migrations: new SyncHook<[MigrationRegistry]>(['registry'], 'migrations'),
    controlMethods: new SyncHook<[ControlMethodRegistry]>(['registry'], 'controlMethods'),
  });
}

/** The part of a hook a plugin may use: tapping, never calling. */
export type TapOnly<H> = Pick<H, Extract<keyof H, 'tap' | 'tapAsync' | 'tapPromise' | 'isUsed'>>;

export type TapOnlyHooks = { readonly [K in HookName]: TapOnly<KernelHooks[K]> };
