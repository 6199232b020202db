/**
 * The answering side: decides whether an authentic, fresh, first-seen query for one of
 * our networks gets a response, within the answer rate limits. No I/O: it returns the
 * datagrams to send and the service sends them.
 */
import { MAX_RATE_LIMITED_SOURCES, MAX_SEEN_CHALLENGES } from './constants.js';
import { ExpiringMap } from './expiring-map.js';
import { encodeResponse, verifyPacket, type LanQuery } from './packet.js';
import { KeyedRateLimiter, TokenBucket } from './rate-limiter.js';
import type { LanDiscoveryStats } from './stats.js';

/** What the responder needs to know about one announced network. */
export interface AnsweredNetwork {
  key: Buffer;
  servicePort: number;
}

export interface ResponderOptions {
  maxClockSkewMs: number;
  maxAnswersPerSecond: number;
  maxAnswersPerSourcePerSecond: number;
}

export class Responder {
  // A challenge stays here as long as its query could pass the timestamp check, so
  // a replay is caught for the query's whole life.
  private readonly seen: ExpiringMap<true>;
  private readonly perSource: KeyedRateLimiter;
  private readonly global: TokenBucket;

  constructor(
    private readonly options: ResponderOptions,
    private readonly stats: LanDiscoveryStats,
    now: number,
  ) {
    this.seen = new ExpiringMap<true>(2 * options.maxClockSkewMs, MAX_SEEN_CHALLENGES);
    this.perSource = new KeyedRateLimiter(options.maxAnswersPerSourcePerSecond, MAX_RATE_LIMITED_SOURCES);
    this.global = new TokenBucket(options.maxAnswersPerSecond, now);
  }

  /** Responses to send back to `source` (usually none or one). */
  answer(query: LanQuery, networks: Iterable<AnsweredNetwork>, source: string, now: number): Buffer[] {
    const matches: AnsweredNetwork[] = [];
    for (const network of networks) {
      if (verifyPacket(network.key, query)) matches.push(network);
    }
    if (matches.length === 0) {
      this.stats.queriesIgnored += 1;
      return [];
    }
    // Checked after the MAC: an unauthenticated packet must not plant challenges.
    if (Math.abs(now - query.timestamp) > this.options.maxClockSkewMs) {
      this.stats.staleQueries += 1;
      return [];
    }
    const challengeHex = query.challenge.toString('hex');
    if (this.seen.has(challengeHex, now)) {
      this.stats.replays += 1;
      return [];
    }
    this.seen.set(challengeHex, true, now);
    const out: Buffer[] = [];
    for (const network of matches) {
      if (!this.perSource.take(source, now) || !this.global.take(now)) {
        this.stats.answersRateLimited += 1;
        continue;
      }
      out.push(encodeResponse(network.key, { servicePort: network.servicePort, challenge: query.challenge }));
    }
    return out;
  }

  clear(): void {
    this.seen.clear();
    this.perSource.clear();
  }
}
