/**
 * The asking side: makes queries, remembers each challenge for the validity window,
 * and checks responses against them (MAC, and each responder nonce accepted once).
 * No I/O.
 */
import { randomBytes } from 'node:crypto';
import { CHALLENGE_BYTES, MAX_PENDING_QUERIES } from './constants.js';
import { ExpiringMap } from './expiring-map.js';
import { encodeQuery, verifyPacket, type LanResponse } from './packet.js';
import type { LanDiscoveryStats } from './stats.js';

interface PendingQuery {
  /** Hex of the network ID the query was for. */
  networkHex: string;
  key: Buffer;
}

export class Querier {
  private readonly pending: ExpiringMap<PendingQuery>;
  // Each (challenge, responder nonce) is accepted once: a copy of an authentic response
  // re-sent from another address within the window is a replay, not a second peer.
  private readonly answered: ExpiringMap<true>;

  constructor(
    validityMs: number,
    private readonly stats: LanDiscoveryStats,
  ) {
    this.pending = new ExpiringMap<PendingQuery>(validityMs, MAX_PENDING_QUERIES);
    this.answered = new ExpiringMap<true>(validityMs, MAX_PENDING_QUERIES * 4);
  }

  /** A fresh query datagram for a network; its challenge is live for the validity window. */
  createQuery(networkHex: string, key: Buffer, now: number): Buffer {
    const challenge = randomBytes(CHALLENGE_BYTES);
    this.pending.set(challenge.toString('hex'), { networkHex, key }, now);
    return encodeQuery(key, { timestamp: now, challenge });
  }

  /** True when the challenge is one of ours (our own broadcast heard back). */
  isOwnChallenge(challenge: Buffer, now: number): boolean {
    return this.pending.has(challenge.toString('hex'), now);
  }

  /** The network hex an authentic, first-seen response is for, else undefined (counted). */
  accept(response: LanResponse, now: number): string | undefined {
    const challengeHex = response.challenge.toString('hex');
    const query = this.pending.get(challengeHex, now);
    if (query === undefined) {
      this.stats.unexpectedResponses += 1;
      return undefined;
    }
    if (!verifyPacket(query.key, response)) {
      this.stats.badMacs += 1;
      return undefined;
    }
    const answerKey = `${challengeHex}:${response.nonce.toString('hex')}`;
    if (this.answered.has(answerKey, now)) {
      this.stats.replays += 1;
      return undefined;
    }
    this.answered.set(answerKey, true, now);
    return query.networkHex;
  }

  /** Forget live queries of a withdrawn network: late answers for it are unexpected. */
  forgetNetwork(networkHex: string): void {
    this.pending.deleteWhere((q) => q.networkHex === networkHex);
  }

  clear(): void {
    this.pending.clear();
    this.answered.clear();
  }
}
