/** Plain counters of one LAN discovery service; tools and benchmarks read them. */
export interface LanDiscoveryStats {
  /** announce() calls (networks this node answers and queries for). */
  announces: number;
  /** withdraw() calls that removed a network. */
  withdraws: number;
  /** Query rounds: one fresh challenge per network per round. */
  lookups: number;
  /** Query datagrams sent (a round sends one per target). */
  queriesSent: number;
  /** Well-formed queries from other nodes. */
  queriesReceived: number;
  /** Well-formed queries whose MAC matched none of our networks (another chat, or forged). */
  queriesIgnored: number;
  /** Our own broadcast queries heard back on the listener. */
  ownQueries: number;
  /** Responses sent. */
  answersSent: number;
  /** Answers withheld by the per-source or global answer rate limit. */
  answersRateLimited: number;
  /** Well-formed responses received. */
  responsesReceived: number;
  /** Peers reported through onPeer (after de-duplication). */
  peersFound: number;
  /** Authentic responses for a peer already reported within the re-discovery window. */
  duplicatePeers: number;
  /** Datagrams that failed to parse (length, type, version, field). */
  badPackets: number;
  /** Responses to one of our live challenges with a wrong MAC (spoofed). */
  badMacs: number;
  /** A query challenge or response nonce seen before. */
  replays: number;
  /** Authentic queries stamped outside the clock-skew window. */
  staleQueries: number;
  /** Responses to no live challenge of ours (late, unknown, or for a withdrawn network). */
  unexpectedResponses: number;
  /** Datagrams dropped unread by the inbound packet rate limit. */
  packetsDropped: number;
  /** Sends the OS refused (e.g. no route for multicast). */
  sendErrors: number;
  /** Sends refused by `loopbackOnly` because the destination was not loopback. */
  sendsBlocked: number;
  /** Socket errors, bind failures, multicast joins that failed, throwing callbacks. */
  errors: number;
}

export function createStats(): LanDiscoveryStats {
  return {
    announces: 0,
    withdraws: 0,
    lookups: 0,
    queriesSent: 0,
    queriesReceived: 0,
    queriesIgnored: 0,
    ownQueries: 0,
    answersSent: 0,
    answersRateLimited: 0,
    responsesReceived: 0,
    peersFound: 0,
    duplicatePeers: 0,
    badPackets: 0,
    badMacs: 0,
    replays: 0,
    staleQueries: 0,
    unexpectedResponses: 0,
    packetsDropped: 0,
    sendErrors: 0,
    sendsBlocked: 0,
    errors: 0,
  };
}
