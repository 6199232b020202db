/**
 * A profile issued by a certification authority, in two steps as `bitchat
 * profile create --ca` does it (at first run, or later for a self-issued profile): (1) make the key and save the profile (self-issued for
 * now, so a failed registration never loses the key), ask the CA to mail a code;
 * (2) send the code back, adopt the CA's certificate and root, save, and unlock
 * again so the chat layer and the verifier use them.
 *
 * Between the steps the registration is kept in the plugin's table
 * (registration-store.ts: which CA, its root, the e-mail, the CA's request ID;
 * never the code, the password or the key), so a restart loses nothing: the
 * user unlocks the profile and enters the code. The password lives in memory
 * only (the identity service holds it too while unlocked); after a restart it
 * is learnt again from the page's unlock, and without it step 2 leaves the
 * profile locked for the user to unlock.
 */
import { CaClient, directCaTransport, type CaTransport } from '../../core/identity/ca/client.js';
import { createCertificateRequest, parseCertificate, type SubjectProfile } from '../../core/identity/certificate.js';
import { keyFingerprintHex } from '../../core/identity/fingerprint.js';
import type { Profile } from '../../core/identity/profile.js';
import type { IdentityServiceView } from './contract.js';
import { ERR_UI_BAD_REQUEST, UiError } from './errors.js';
import type { RegistrationStore } from './registration-store.js';

/** The registration as the page sees it; never the password. */
export interface RegistrationJson {
  state: 'registering' | 'code-sent' | 'failed';
  email: string;
  caUrl: string;
  /** The CA root's name and key fingerprint: compare it with the CA's out of band. */
  caName: string;
  caFingerprint: string;
  /** When the mailed code stops working (ms since the epoch). */
  expiresAt: number | null;
  error: string | null;
}

interface Pending {
  json: RegistrationJson;
  root: Buffer;
  /** null after a restart, until the profile is unlocked through the page. */
  password: string | null;
  requestId: string | null;
  /** The profile key's fingerprint, once a request was made for it. */
  keyFingerprint: string | null;
}

export class CaRegistration {
  readonly stats = { started: 0, issued: 0, failed: 0 };
  readonly #identity: () => IdentityServiceView;
  readonly #changed: (registration: RegistrationJson | null) => void;
  readonly #transport: CaTransport;
  #store: RegistrationStore | null = null;
  #pending: Pending | null = null;

  /**
   * `changed` is told every state change (the page follows it live); every CA
   * request goes through `transport` (the proxy's, when the node has one).
   */
  constructor(identity: () => IdentityServiceView, changed: (registration: RegistrationJson | null) => void, transport: CaTransport = directCaTransport) {
    this.#identity = identity;
    this.#changed = changed;
    this.#transport = transport;
  }

  get current(): RegistrationJson | null {
    return this.#pending ? { ...this.#pending.json } : null;
  }

  /** At start: keep registrations in `store`, and take up the one a previous run left. */
  attach(store: RegistrationStore): void {
    this.#store = store;
    const saved = store.load();
    if (saved === null || this.#pending) return;
    let state: string;
    try {
      state = this.#identity().status().state;
    } catch {
      state = 'none';
    }
    // The profile it was made for is gone: nothing to finish.
    if (state === 'none') {
      store.clear();
      return;
    }
    this.#pending = {
      json: {
        state: saved.state,
        email: saved.email,
        caUrl: saved.caUrl,
        caName: saved.caName,
        caFingerprint: saved.caFingerprint,
        expiresAt: saved.expiresAt,
        error: saved.error,
      },
      root: saved.caRoot,
      password: null,
      requestId: saved.requestId,
      keyFingerprint: saved.keyFingerprint,
    };
  }

  /** At stop: the registration stays in the store for the next run. */
  detach(): void {
    this.#pending = null;
    this.#store = null;
  }

  /** The profile was unlocked through the page: a registration taken up after a restart can finish the same way. */
  unlockedWith(password: string): void {
    if (this.#pending && this.#pending.password === null) this.#pending.password = password;
  }

  /**
   * Step 1. The CA is asked for its root before the key is made, so a wrong
   * address fails at once. `create` makes and saves the self-issued profile;
   * without it the unlocked profile is registered as it is (its key stays).
   */
  async start(input: { email: string; password: string; caUrl: string }, create: () => Promise<unknown> = async () => undefined): Promise<RegistrationJson> {
    if (this.#pending) throw new UiError(ERR_UI_BAD_REQUEST, 409, 'a registration is in progress: enter its code or cancel it');
    const root = await new CaClient(input.caUrl, this.#transport).fetchRoot();
    const rootInfo = parseCertificate(root);
    const pending: Pending = {
      json: {
        state: 'registering',
        email: input.email.toLowerCase(),
        caUrl: input.caUrl,
        caName: rootInfo.name,
        caFingerprint: keyFingerprintHex(rootInfo.publicKey),
        expiresAt: null,
        error: null,
      },
      root,
      password: input.password,
      requestId: null,
      keyFingerprint: null,
    };
    this.#pending = pending;
    this.stats.started++;
    try {
      await create();
    } catch (err) {
      // No key was kept: nothing to register.
      this.#pending = null;
      throw err;
    }
    this.#changed(this.current);
    await this.#register(pending);
    return { ...pending.json };
  }

  /** Asks for a new code (after a failure, or when the mail did not come). */
  async retry(): Promise<RegistrationJson> {
    const pending = this.#need();
    pending.json = { ...pending.json, state: 'registering', error: null };
    this.#changed(this.current);
    await this.#register(pending);
    return { ...pending.json };
  }

  /** Step 2: the code from the mail. A wrong code keeps the registration (the CA allows a few tries). */
  async verify(code: string): Promise<void> {
    const pending = this.#need();
    if (!pending.requestId) throw new UiError(ERR_UI_BAD_REQUEST, 409, 'no code was sent yet: ask for one');
    const identity = this.#identity();
    const profile = identity.profile as Profile | undefined;
    if (!profile || identity.status().state !== 'unlocked') throw new UiError(ERR_UI_BAD_REQUEST, 409, 'the profile is locked: unlock it, then enter the code');
    this.#sameKey(pending, profile);
    const client = this.#client(pending);
    const issued = await client.verify(pending.requestId, code);
    const staple = await client.fetchStatus(issued.serial);
    profile.adoptCaCertificate(issued.chain, pending.root, pending.json.caUrl);
    profile.staple = staple;
    await identity.persist?.();
    this.#drop();
    this.stats.issued++;
    // The chat layer and the verifier were made from the self-issued certificate: start them again.
    // Without the password (unlocked outside the page after a restart) the user unlocks.
    await identity.lock();
    if (pending.password !== null) await identity.unlock(pending.password);
    this.#changed(null);
  }

  /** Keeps the self-issued profile. */
  cancel(): void {
    if (!this.#pending) return;
    this.#drop();
    this.#changed(null);
  }

  async #register(pending: Pending): Promise<void> {
    const profile = this.#identity().profile as Profile | undefined;
    try {
      if (!profile) throw new UiError(ERR_UI_BAD_REQUEST, 409, 'the profile is locked: unlock it, then ask for a code');
      this.#sameKey(pending, profile);
      pending.keyFingerprint = keyFingerprintHex(profile.publicKey);
      const leaf = profile.leaf;
      const subject: SubjectProfile = { name: leaf.name, email: leaf.email ?? pending.json.email };
      const { requestId, expiresAt } = await this.#client(pending).register(subject, { csr: createCertificateRequest({ privateKey: profile.privateKey, profile: subject }) });
      pending.requestId = requestId;
      pending.json = { ...pending.json, state: 'code-sent', expiresAt, error: null };
    } catch (err) {
      this.stats.failed++;
      pending.json = { ...pending.json, state: 'failed', error: (err as Error).message };
    }
    if (this.#pending !== pending) return;
    this.#save(pending);
    this.#changed(this.current);
  }

  #client(pending: Pending): CaClient {
    return new CaClient(pending.json.caUrl, this.#transport);
  }

  /** A registration belongs to one key: a profile replaced meanwhile drops it. */
  #sameKey(pending: Pending, profile: Profile): void {
    if (pending.keyFingerprint === null || pending.keyFingerprint === keyFingerprintHex(profile.publicKey)) return;
    this.cancel();
    throw new UiError(ERR_UI_BAD_REQUEST, 409, 'the registration was made for another profile key: it was dropped');
  }

  #save(pending: Pending): void {
    const { json } = pending;
    if (this.#store === null || pending.keyFingerprint === null || json.state === 'registering') return;
    this.#store.save({
      keyFingerprint: pending.keyFingerprint,
      email: json.email,
      caUrl: json.caUrl,
      caName: json.caName,
      caFingerprint: json.caFingerprint,
      caRoot: pending.root,
      requestId: pending.requestId,
      expiresAt: json.expiresAt,
      state: json.state,
      error: json.error,
    });
  }

  #drop(): void {
    this.#pending = null;
    this.#store?.clear();
  }

  #need(): Pending {
    if (!this.#pending) throw new UiError(ERR_UI_BAD_REQUEST, 404, 'no registration with a CA is in progress');
    return this.#pending;
  }
}
