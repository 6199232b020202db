/** The public mainline DHT routers. Only the plugin's default options use them; tests never do. */
export const PUBLIC_BOOTSTRAP = ['router.bittorrent.com:6881', 'router.utorrent.com:6881', 'dht.transmissionbt.com:6881'];

/** Re-announce period once a chat's mesh is complete (spec §6.2: 300 s default). */
export const DEFAULT_ANNOUNCE_INTERVAL_MS = 300_000;
/** Re-announce period while a chat's mesh is incomplete (spec §6.2: 120 s custom). */
export const FAST_ANNOUNCE_INTERVAL_MS = 120_000;
/** Floor on any interval given to the service (the plugin schema asks >= 1 s), so a bad value cannot become a query storm. */
export const MIN_ANNOUNCE_INTERVAL_MS = 100;
/** Peers remembered per network for de-duplication (oldest forgotten first). */
export const MAX_PEERS_PER_NETWORK = 500;
/**
 * Peers taken from one DHT node per round; more are dropped and counted. A real
 * reply fits one UDP datagram (~200 compact peers at most); a node sending more
 * is flooding, and must not crowd out the peers other nodes return.
 */
export const MAX_PEERS_PER_SOURCE = 200;
/** Distinct replying nodes tracked per round (bounds the per-source counters). */
export const MAX_SOURCES_PER_ROUND = 1_000;
/** Networks announced at once; each costs a timer and a peer set. */
export const MAX_NETWORKS = 1_000;
/** Routing-table nodes written to storage at stop; enough to rejoin without the routers. */
export const MAX_SAVED_NODES = 300;
/** How often the routing table is saved while running (also saved at stop). */
export const NODE_SAVE_INTERVAL_MS = 10 * 60_000;
/** Bytes in a network ID / info-hash. */
export const NETWORK_ID_BYTES = 20;
/**
 * Extra early rounds after a network's first announce, while its mesh is
 * incomplete. A round looks up before it announces, so peers that come online
 * together all look up before any has announced and find nobody; without these
 * they would wait a whole fast interval (120 s) to meet.
 */
export const SETTLE_DELAYS_MS = [2_000, 5_000, 15_000];
/** How long our node keeps peers others announced to it (BEP 5 suggests ~30 min; the library default is forever). */
export const STORED_PEER_MAX_AGE_MS = 30 * 60_000;
/** Peers our node stores for others, over all info-hashes. */
export const MAX_STORED_PEERS = 10_000;
