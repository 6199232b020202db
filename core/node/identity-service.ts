/**
 * The node's identity for the UI and CLI (service `identity`): is there a profile,
 * is it unlocked, create a self-issued one, unlock with the password, lock.
 * While unlocked the password stays in memory so new chat secrets and pins can be
 * saved to the profile file; lock forgets it.
 *
 * Events: 'unlocked' (Profile), 'locked' ().
 */
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { access } from 'node:fs/promises';
import type { Profile } from '../identity/profile.js';
import { loadProfile, Profile as ProfileClass, saveProfile } from '../identity/profile.js';
import type { ProgressHook } from '../identity/progress.js';
import { ERR_NODE_LOCKED, ERR_NODE_NO_PROFILE, ERR_NODE_PROFILE_EXISTS, NodeError } from './errors.js';

export interface IdentityStatus {
  state: 'none' | 'locked' | 'unlocked';
  email?: string;
  name?: string;
  fingerprint?: string;
  safetyNumber?: string;
}

export interface CreateProfileInput {
  name: string;
  email: string;
  password: string;
  mode: 'self';
}

export interface IdentityServiceOptions {
  /** The profile file; null when the profile is only in memory (tests, embedding). */
  path: string | null;
  /** Runs after unlock (the chat side starts); a failure re-locks. */
  onUnlock: (profile: Profile) => Promise<void>;
  /** Runs before lock (the chat side stops). */
  onLock: () => Promise<void>;
  /** Profile file KDF iterations (tests lower the cost). */
  iterations?: number;
  /** RSA key size of new profiles. @default 4096 */
  bits?: number;
}

export class IdentityService extends EventEmitter {
  readonly stats = { unlocks: 0, failedUnlocks: 0, saves: 0 };
  private readonly o: IdentityServiceOptions;
  private current: Profile | undefined;
  private password: string | undefined;
  private fileExists = false;
  /** The last save: saves run one after another, each encoding the profile at its turn (a slower older save must not land last). */
  private saving: Promise<void> = Promise.resolve();

  constructor(options: IdentityServiceOptions) {
    super();
    this.o = options;
  }

  /** Checks whether the profile file exists (status() is synchronous and uses this). */
  async refresh(): Promise<void> {
    if (this.o.path === null) return;
    this.fileExists = await access(this.o.path).then(
      () => true,
      () => false,
    );
  }

  get profile(): Profile | undefined {
    return this.current;
  }

  status(): IdentityStatus {
    const p = this.current;
    if (!p) {
      // Cheap, and right even when the file was made or removed behind our back (the CLI).
      if (this.o.path !== null) this.fileExists = existsSync(this.o.path);
      return { state: this.fileExists ? 'locked' : 'none' };
    }
    const leaf = p.leaf;
    return { state: 'unlocked', email: p.email.toLowerCase(), name: leaf.name, fingerprint: leaf.fingerprint, safetyNumber: p.safetyNumber };
  }

  /** Creates a self-issued profile, saves it and unlocks it. */
  async create(input: CreateProfileInput, onProgress?: ProgressHook): Promise<IdentityStatus> {
    if (this.o.path === null) throw new NodeError(ERR_NODE_NO_PROFILE, 'this node has no profile path');
    await this.refresh();
    if (this.fileExists) throw new NodeError(ERR_NODE_PROFILE_EXISTS, `a profile exists at ${this.o.path}`);
    const profile = await ProfileClass.createSelfIssued({
      subject: { name: input.name, email: input.email },
      ...(this.o.bits !== undefined ? { bits: this.o.bits } : {}),
      ...(onProgress ? { onProgress } : {}),
    });
    await saveProfile(this.o.path, profile, input.password, { ...this.saveOptions(), ...(onProgress ? { onProgress } : {}) });
    this.fileExists = true;
    await this.use(profile, input.password);
    return this.status();
  }

  /** Opens the profile file with `password` (wrong password: the identity layer's error). */
  async unlock(password: string): Promise<IdentityStatus> {
    if (this.o.path === null) throw new NodeError(ERR_NODE_NO_PROFILE, 'this node has no profile path');
    if (this.current) return this.status();
    let profile: Profile;
    try {
      profile = await loadProfile(this.o.path, password);
    } catch (err) {
      this.stats.failedUnlocks++;
      throw err;
    }
    this.fileExists = true;
    await this.use(profile, password);
    return this.status();
  }

  /** Unlocks with a profile already in memory; `password` lets changes be saved. */
  async use(profile: Profile, password?: string): Promise<void> {
    if (this.current) await this.lock();
    this.current = profile;
    this.password = password;
    try {
      await this.o.onUnlock(profile);
    } catch (err) {
      this.current = undefined;
      this.password = undefined;
      throw err;
    }
    this.stats.unlocks++;
    this.emit('unlocked', profile);
  }

  /** Saves the profile (chat secrets, history key, pins) when there is a file and a password. */
  async persist(): Promise<void> {
    const p = this.current;
    if (!p) throw new NodeError(ERR_NODE_LOCKED, 'the profile is locked');
    const path = this.o.path;
    const password = this.password;
    if (path === null || password === undefined) return;
    const save = this.saving.then(() => saveProfile(path, p, password, this.saveOptions()));
    this.saving = save.catch(() => undefined);
    await save;
    this.stats.saves++;
  }

  async lock(): Promise<void> {
    if (!this.current) return;
    try {
      await this.o.onLock();
      if (this.current.pins.dirty) await this.persist().catch(() => undefined);
      // Saves still under way land before the profile is let go (a stopped node's file is final).
      await this.saving;
    } finally {
      this.current = undefined;
      this.password = undefined;
      this.emit('locked');
    }
  }

  private saveOptions(): { iterations?: number } {
    return this.o.iterations !== undefined ? { iterations: this.o.iterations } : {};
  }
}
