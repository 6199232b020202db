/**
 * Default trackers for the plugin's default options only (tests never use them).
 * The original's own trackers (tracker*.bitchat.im) are gone; these are long-lived
 * public open trackers (UDP first: cheaper for both sides).
 */
export const PUBLIC_TRACKERS = [
  'udp://tracker.opentrackr.org:1337/announce',
  'udp://open.demonii.com:1337/announce',
  'udp://tracker.openbittorrent.com:6969/announce',
  'http://tracker.opentrackr.org:1337/announce',
];

/** peer_id prefix (Azureus style): "BC" + version 0.1.0.0. */
export const PEER_ID_PREFIX = '-BC0100-';
/** Peers asked for per announce (spec §6.1). */
export const NUMWANT = 50;
/** Re-announce period while a chat's mesh is incomplete (spec §6.1: 120 s). */
export const FAST_INTERVAL_MS = 120_000;
/** Re-announce period when the tracker names none. */
export const DEFAULT_INTERVAL_MS = 30 * 60_000;
/** Floors and caps on what a tracker may ask: a hostile `interval` of 0 or 10 years is clamped. */
export const MIN_TRACKER_INTERVAL_MS = 60_000;
export const MAX_TRACKER_INTERVAL_MS = 6 * 60 * 60_000;
/** First retry after a failure; doubles per failure up to MAX_RETRY_MS (spec: 30 s, then 30 min). */
export const RETRY_BASE_MS = 30_000;
export const MAX_RETRY_MS = 30 * 60_000;
/** Peers taken from one tracker response; a response with more is flooding (we ask for 50). */
export const MAX_PEERS_PER_RESPONSE = 200;
/** Peers remembered per network for de-duplication (oldest forgotten first). */
export const MAX_PEERS_PER_NETWORK = 500;
/** Trackers per network, and networks at once: each is a client with a timer. */
export const MAX_TRACKERS_PER_NETWORK = 32;
export const MAX_NETWORKS = 1_000;
/** How long `withdraw` waits for the "stopped" announce before closing anyway. */
export const STOP_WAIT_MS = 1_000;
/** A request the library has not answered after this long is treated as failed (library: 15 s). */
export const REQUEST_GUARD_MS = 20_000;
/** Network ID length. */
export const NETWORK_ID_BYTES = 20;
/** HTTP tracker request deadline (library: 15 s; spec §6.1: 30 s). */
export const HTTP_TIMEOUT_MS = 15_000;
/** Largest HTTP tracker response read; 50 peers take ~1 KB, so this is generous. */
export const MAX_HTTP_RESPONSE_BYTES = 256 * 1024;
