/**
 * Wires identity and chats into a kernel: core's chat migrations, the profile
 * verifier behind `hooks.verifyCertificate`, discovery results to the chats, and the
 * `identity` / `chat` services. The chat side runs only while the kernel runs and
 * the profile is unlocked.
 */
import type { Logger } from 'pino';
import { CHAT_MIGRATIONS } from '../chat/history-migrations.js';
import type { ConnectionManager } from '../connection/index.js';
import type { KernelHooks } from '../hooks.js';
import type { Profile } from '../identity/profile.js';
import type { CertificateVerifier, PeerVerdict } from '../identity/verifier.js';
import type { Storage } from '../storage.js';
import { ChatNode, type ChatNodeOptions } from './chat-node.js';
import { ERR_NODE_LOCKED, NodeError } from './errors.js';
import { IdentityService } from './identity-service.js';
import type { PeerCertificate } from './secure-session.js';

/** Core's taps run after plugins' (a plugin's verdict on a certificate decides first). */
const VERIFY_STAGE = 100;
const CORE_TAP = 'core-chat';
/** Certificates the verifier parsed, kept for the session that follows (each is parsed once, not twice). */
const MAX_VERIFIED_CERTIFICATES = 256;

export interface NodeHost {
  hooks: KernelHooks;
  connections: ConnectionManager;
  storage: Storage;
  logger: Logger;
  profilePath: string | null;
  register(name: 'identity' | 'chat', value: unknown): void;
  /** A plugin's service if registered (the DHT and LAN discovery, for invitations). */
  tryResolve?(name: string): unknown;
}

export interface NodeRuntimeOptions {
  /** An unlocked profile to use at start (tests, embedding); needs no file. */
  profile?: Profile;
  /** With `profile`: lets changes (chat secrets, pins) be saved to the profile path. */
  profilePassword?: string;
  /** Profile file KDF iterations (tests). */
  profileIterations?: number;
  /** RSA bits of profiles created through the identity service. */
  profileBits?: number;
  /** How often an inviter looks the invitee up (tests shorten it; default 30 s). */
  invitationLookupMs?: number;
}

/** A plugin service with these methods, else undefined (plugins are optional). */
function serviceWith<T>(value: unknown, methods: readonly string[]): T | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  return methods.every((m) => typeof (value as Record<string, unknown>)[m] === 'function') ? (value as T) : undefined;
}

export class NodeRuntime {
  readonly identity: IdentityService | undefined;
  private readonly host: NodeHost;
  private readonly options: NodeRuntimeOptions;
  private chatNode: ChatNode | undefined;
  private verifier: CertificateVerifier | undefined;
  private readonly verified = new Map<string, PeerCertificate>();
  private running = false;

  constructor(host: NodeHost, options: NodeRuntimeOptions = {}) {
    this.host = host;
    this.options = options;
    const { hooks } = host;
    hooks.migrations.tap({ name: CORE_TAP, stage: -100 }, (registry) => {
      for (const m of CHAT_MIGRATIONS) registry.add(m);
    });
    hooks.verifyCertificate.tapPromise({ name: CORE_TAP, stage: VERIFY_STAGE }, async (check) => {
      if (!this.verifier) return undefined;
      const v = await this.verifier.verifyPeer(check.chain, check.staple);
      if (v.ok && v.peer && check.chain[0]) this.rememberVerified(check.chain[0], v.peer);
      return v.ok ? { ok: true } : { ok: false, ...(v.code !== undefined ? { code: v.code } : {}), ...(v.reason !== undefined ? { reason: v.reason } : {}) };
    });
    hooks.peerDiscovered.tap(CORE_TAP, (networkId, endpoint) => this.chatNode?.peerDiscovered(networkId, endpoint));
    if (host.profilePath !== null || options.profile) {
      this.identity = new IdentityService({
        path: host.profilePath,
        onUnlock: (profile) => this.onUnlock(profile),
        onLock: () => this.onLock(),
        ...(options.profileIterations !== undefined ? { iterations: options.profileIterations } : {}),
        ...(options.profileBits !== undefined ? { bits: options.profileBits } : {}),
      });
      host.register('identity', this.identity);
    }
  }

  /** The chat facade while unlocked and running. */
  get chat(): ChatNode | undefined {
    return this.chatNode;
  }

  /** The kernel runs (storage open, listener up): start chats if the profile is unlocked. */
  async start(): Promise<void> {
    this.running = true;
    if (!this.identity) return;
    await this.identity.refresh();
    if (this.identity.profile) await this.startChat(this.identity.profile);
    else if (this.options.profile) await this.identity.use(this.options.profile, this.options.profilePassword);
  }

  /** The kernel stops: chats stop, the profile is locked (pins saved). */
  async stop(): Promise<void> {
    if (this.identity) await this.identity.lock();
    this.running = false;
  }

  private async onUnlock(profile: Profile): Promise<void> {
    this.verifier = profile.createVerifier();
    if (this.running) await this.startChat(profile);
  }

  private async startChat(profile: Profile): Promise<void> {
    if (this.chatNode) return;
    this.chatNode = await ChatNode.start({
      hooks: this.host.hooks,
      connections: this.host.connections,
      storage: this.host.storage,
      logger: this.host.logger.child({ component: 'chat' }),
      profile,
      persist: () => this.identity!.persist(),
      verifiedCertificate: (der) => this.verified.get(der.toString('base64')),
      peerPublicKey: (der) => {
        // Locked since the handshake began: the handshake fails (as a bad certificate).
        if (!this.verifier) throw new NodeError(ERR_NODE_LOCKED, 'the profile was locked');
        return this.verifier.publicKeyOf(der);
      },
      ...this.discoveryServices(),
      ...(this.options.invitationLookupMs !== undefined ? { invitationLookupMs: this.options.invitationLookupMs } : {}),
    });
    this.host.register('chat', this.chatNode);
    // Online only now: discovery answers to the announcements must find the node.
    await this.chatNode.resume();
  }

  /** The DHT and LAN services invitations announce masks on (plugins registered them in apply). */
  private discoveryServices(): Pick<ChatNodeOptions, 'dht' | 'lan'> {
    const dht = serviceWith<NonNullable<ChatNodeOptions['dht']>>(this.host.tryResolve?.('dht'), ['announce', 'withdraw', 'lookup']);
    const lan = serviceWith<NonNullable<ChatNodeOptions['lan']>>(this.host.tryResolve?.('lan-discovery'), ['announce', 'withdraw']);
    return { ...(dht ? { dht } : {}), ...(lan ? { lan } : {}) };
  }

  private rememberVerified(der: Buffer, peer: NonNullable<PeerVerdict['peer']>): void {
    if (this.verified.size >= MAX_VERIFIED_CERTIFICATES) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(der.toString('base64'), {
      identity: peer.email.toLowerCase(),
      name: peer.name,
      fingerprint: Buffer.from(peer.fingerprint, 'hex'),
      publicKey: peer.leaf.publicKey,
    });
  }

  private async onLock(): Promise<void> {
    this.verified.clear();
    const node = this.chatNode;
    this.chatNode = undefined;
    this.verifier = undefined;
    if (node) {
      this.host.register('chat', undefined);
      await node.stop();
    }
  }
}
