/** One pinned self-issued key: the first key seen (or accepted) for an e-mail address. */
export interface PinRecord {
  email: string;
  /** SHA-256 of the SubjectPublicKeyInfo, hex. */
  fingerprint: string;
  name: string;
  firstSeen: number;
  lastSeen: number;
}

/** A different key seen for a pinned address, waiting for the user's decision. */
export interface PendingKeyChange {
  email: string;
  fingerprint: string;
  name: string;
  seenAt: number;
}

export type PinCheck = 'unknown' | 'match' | 'changed';

/** The serialisable form kept in the profile file. */
export interface PinStoreData {
  pins: PinRecord[];
  pending: PendingKeyChange[];
}

const MAX_PINS = 100_000;

function norm(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * Trust-on-first-use pins for self-issued profiles. The first key seen for an
 * e-mail is pinned; a different key later is refused and parked as a pending
 * change until the user compares safety numbers and calls {@link accept}.
 */
export class PinStore {
  readonly stats = { pinned: 0, matched: 0, refused: 0, accepted: 0 };
  private readonly pins = new Map<string, PinRecord>();
  private readonly pending = new Map<string, PendingKeyChange>();
  /** Set on every change, cleared by whoever saves the profile. */
  dirty = false;

  constructor(data?: PinStoreData) {
    for (const p of data?.pins ?? []) this.pins.set(norm(p.email), { ...p, email: norm(p.email) });
    for (const p of data?.pending ?? []) this.pending.set(norm(p.email), { ...p, email: norm(p.email) });
  }

  check(email: string, fingerprint: string): PinCheck {
    const pin = this.pins.get(norm(email));
    if (pin === undefined) return 'unknown';
    return pin.fingerprint === fingerprint ? 'match' : 'changed';
  }

  get(email: string): PinRecord | undefined {
    return this.pins.get(norm(email));
  }

  /**
   * Looks the key up and acts: pins an unknown address, refreshes a match, and
   * parks a change as pending (the caller refuses the peer).
   */
  observe(email: string, fingerprint: string, name: string, now = Date.now()): PinCheck {
    const key = norm(email);
    const result = this.check(key, fingerprint);
    if (result === 'unknown') {
      if (this.pins.size >= MAX_PINS) return 'changed';
      this.pins.set(key, { email: key, fingerprint, name, firstSeen: now, lastSeen: now });
      this.stats.pinned++;
      this.dirty = true;
    } else if (result === 'match') {
      this.pins.get(key)!.lastSeen = now;
      this.stats.matched++;
    } else {
      this.pending.set(key, { email: key, fingerprint, name, seenAt: now });
      this.stats.refused++;
      this.dirty = true;
    }
    return result;
  }

  /** Pending key changes, oldest first. */
  pendingChanges(): PendingKeyChange[] {
    return [...this.pending.values()].sort((a, b) => a.seenAt - b.seenAt);
  }

  /**
   * The user accepts the new key for `email` (optionally only if it is the
   * expected `fingerprint`). Returns false when there is nothing to accept.
   */
  accept(email: string, fingerprint?: string, now = Date.now()): boolean {
    const key = norm(email);
    const change = this.pending.get(key);
    if (change === undefined || (fingerprint !== undefined && change.fingerprint !== fingerprint)) return false;
    this.pins.set(key, { email: key, fingerprint: change.fingerprint, name: change.name, firstSeen: now, lastSeen: now });
    this.pending.delete(key);
    this.stats.accepted++;
    this.dirty = true;
    return true;
  }

  /** Forgets everything about `email` (the next key seen is pinned afresh). */
  forget(email: string): void {
    const key = norm(email);
    const hadPin = this.pins.delete(key);
    const hadPending = this.pending.delete(key);
    if (hadPin || hadPending) this.dirty = true;
  }

  list(): PinRecord[] {
    return [...this.pins.values()];
  }

  toJSON(): PinStoreData {
    return { pins: this.list(), pending: this.pendingChanges() };
  }
}
