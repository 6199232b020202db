/** Constants of the relay plugin (wire values, defaults, caps). */
import { createHash } from 'node:crypto';

/**
 * The DHT info-hash relays announce themselves under:
 * `SHA-1("bitchat relay v1")` = `b18a09887987038f939a95b1fbfca8c020ed3251` (see docs/protocol/relay.md). Mainline DHT
 * nodes cannot carry TCP, so relay candidates are found here, not among DHT contacts.
 */
export const RELAY_INFO_HASH_LABEL = 'bitchat relay v1';
export const RELAY_INFO_HASH: Buffer = createHash('sha1').update(RELAY_INFO_HASH_LABEL, 'utf8').digest();

/** Label mixed into the per-slot pads that mask network IDs in relay requests. */
export const MASK_LABEL = 'bitchat relay mask';

export const NETWORK_ID_BYTES = 20;
export const REQUEST_ID_BYTES = 20;
export const EPN_BYTES = 20;

/** First byte of a StartTcpRelay (signal 10) payload. */
export const RequestKind = {
  /** Register networks with the relay. */
  REGISTER: 1,
  /** Ask the relay to dial our listening port back (reachability). */
  PROBE: 2,
} as const;

/** The single byte of a TcpRelayResponseSuccess (signal 12) payload. */
export const RelayStatus = {
  /** Registration (or stop) done. */
  OK: 0,
  /** Some or all networks refused: a cap (clients, networks) is reached. */
  LIMIT: 1,
  /** This node does not serve as a relay. */
  NOT_SERVING: 2,
  /** Probe: the relay reached our listening port and found us there. */
  REACHABLE: 3,
  /** Probe: the relay could not reach us on our listening port. */
  UNREACHABLE: 4,
  /** Probe asked again too soon. */
  RATE_LIMITED: 5,
  /** The request could not be parsed, or came over a virtual connection. */
  REFUSED: 6,
} as const;
export type RelayStatusValue = (typeof RelayStatus)[keyof typeof RelayStatus];

/** Networks per request (u8 count; also the per-client cap's upper bound). */
export const MAX_NETWORKS_PER_REQUEST = 255;
/** End points in one peer list (u8 count, spec §9.6). */
export const MAX_PEER_LIST = 255;

/** Relays a client keeps (spec §1.9). */
export const DEFAULT_MAX_RELAYS = 3;
export const DEFAULT_MAX_CLIENTS = 256;
export const DEFAULT_MAX_NETWORKS_PER_CLIENT = 16;
export const DEFAULT_MAX_NETWORKS = 1024;
export const DEFAULT_MAX_TUNNELS = 128;
/**
 * Per tunnel, each direction; 0 = unlimited. 4 MiB/s: above most NATed peers' uplinks,
 * so file sharing through a relay is not held back by it, yet one tunnel takes at most
 * about 3% of a 1 Gbit/s relay (docs/protocol/relay.md §1).
 */
export const DEFAULT_TUNNEL_BYTES_PER_SECOND = 4 * 1024 * 1024;
/** Client: relay upkeep period (spec: 30 s). */
export const DEFAULT_CLIENT_INTERVAL_MS = 30_000;
/** Client: reachability re-check period while known, and while unknown (spec §9.4). */
export const DEFAULT_REACHABILITY_INTERVAL_MS = 60_000;
export const DEFAULT_REACHABILITY_RETRY_MS = 10_000;
/** Wait for a TcpRelayResponseSuccess (spec: 10 s, then drop the relay). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** The relay's dial-back: connect plus handshake answer. */
export const DEFAULT_PROBE_DIAL_TIMEOUT_MS = 5_000;
/** One probe per connection per this period. */
export const DEFAULT_PROBE_MIN_INTERVAL_MS = 10_000;
/** A candidate that failed is not tried again for this long. */
export const DEFAULT_CANDIDATE_BACKOFF_MS = 60_000;
/** Candidate relays remembered (oldest forgotten first). */
export const MAX_CANDIDATES = 64;
/** Candidates tried per upkeep round. */
export const MAX_ATTEMPTS_PER_ROUND = 8;
/** Tunnels opened per received peer list. */
export const MAX_TUNNELS_PER_PEER_LIST = 16;
/** Relayed end points remembered (a direct dial to them is skipped), and for how long. */
export const MAX_RELAYED_ENDPOINTS = 1024;
export const RELAYED_ENDPOINT_TTL_MS = 10 * 60_000;
/** Our `hooks.dial` tap runs before proxies and the direct TCP dial. */
export const RELAYED_DIAL_STAGE = -100;
