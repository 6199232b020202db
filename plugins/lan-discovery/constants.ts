/**
 * Constants of the LAN discovery plugin: wire numbers (see packet.ts and
 * docs/protocol/lan-discovery.md) and the defaults of every option.
 */

export const PLUGIN_NAME = 'lan-discovery';
export const PLUGIN_VERSION = '0.1.0';
/** The `source` passed to `reportPeer` / `hooks.peerDiscovered`. */
export const DISCOVERY_SOURCE = 'lan';

/** Spec §6.3: the well-known UDP port every node listens on. */
export const DEFAULT_PORT = 41733;
/** Spec §6.3: IPv6 link-local "all nodes" multicast group with transient flag (scope 2). */
export const IPV6_MULTICAST_GROUP = 'ff12::1';

// Wire numbers. Packet types keep the spec's numbering (5 query, 6 response).
export const PACKET_VERSION = 1;
export const TYPE_QUERY = 5;
export const TYPE_RESPONSE = 6;
export const NETWORK_ID_BYTES = 20;
export const CHALLENGE_BYTES = 32;
export const RESPONDER_NONCE_BYTES = 16;
export const MAC_BYTES = 32;
/** type + version + u64 timestamp + challenge + MAC */
export const QUERY_BYTES = 1 + 1 + 8 + CHALLENGE_BYTES + MAC_BYTES;
/** type + version + u16 port + challenge + responder nonce + MAC */
export const RESPONSE_BYTES = 1 + 1 + 2 + CHALLENGE_BYTES + RESPONDER_NONCE_BYTES + MAC_BYTES;
/** HKDF `info`: the LAN key is never the raw network ID, and never reused by other protocols. */
export const KEY_DERIVATION_INFO = 'bitchat lan-discovery v1';

// Defaults of the options (documented in README.md and the options schema).
/** First re-query delay after an announce or an interface change; doubles each round. */
export const DEFAULT_QUERY_INTERVAL_MIN_MS = 1_000;
/** The back-off stops here (spec §6.3: a round every 30 s). */
export const DEFAULT_QUERY_INTERVAL_MAX_MS = 30_000;
/** Spec §6.3: a query accepts responses for 2 s. */
export const DEFAULT_QUERY_VALIDITY_MS = 2_000;
/** Spec §6.3: a found (network, end point) pair is not reported again for 30 s. */
export const DEFAULT_REDISCOVER_AFTER_MS = 30_000;
/** Spec §6.3: interfaces are checked every 15 s; a change queries at once. */
export const DEFAULT_INTERFACE_CHECK_INTERVAL_MS = 15_000;
/** Queries stamped further than this from our clock are refused (replay window). */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 300_000;
export const DEFAULT_MAX_ANSWERS_PER_SECOND = 200;
export const DEFAULT_MAX_ANSWERS_PER_SOURCE_PER_SECOND = 20;
/** Inbound datagrams beyond this are dropped before any parsing or HMAC work. */
export const DEFAULT_MAX_PACKETS_PER_SECOND = 2_000;

// Caps on every table fed from the network or by callers.
export const MAX_NETWORKS = 1_024;
export const MAX_PENDING_QUERIES = 4_096;
export const MAX_SEEN_CHALLENGES = 16_384;
export const MAX_RECENT_PEERS = 4_096;
export const MAX_RATE_LIMITED_SOURCES = 1_024;
export const MAX_WARNED_TARGETS = 64;
/** Random spread of each re-query delay, as a fraction, so nodes started together do not stay in step. */
export const QUERY_JITTER = 0.1;
