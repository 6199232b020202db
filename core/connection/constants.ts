/**
 * Wire constants and default limits of the connection layer (PROTOCOL.md §1, §9.6-9.7;
 * DESIGN.md §2b). Our wire format is documented in `docs/protocol/connection.md`.
 */

/**
 * Handshake version byte. The original used 1; 2 added flow control with a fixed
 * window; 3 lets a receiver grow a channel's window to {@link MAX_CHANNEL_WINDOW}
 * (a version 2 sender would call that credit a protocol error, so 2 is refused).
 */
export const PROTOCOL_VERSION = 3;
/** Bytes in a node's per-start random peer ID. */
export const PEER_ID_LENGTH = 20;
/** Bytes in a virtual channel name. */
export const CHANNEL_NAME_LENGTH = 20;
/** signal (1) + channel name (20) + data length (2). */
export const FRAME_HEADER_LENGTH = 1 + CHANNEL_NAME_LENGTH + 2;
/**
 * Largest data part a reader accepts; a bigger length closes the connection with
 * ERR_FRAME_TOO_LARGE. Below the u16 maximum so that one frame plus its header stays
 * clear of loopback's slow case at exactly 64 KiB writes (STACK.md).
 */
export const MAX_FRAME_DATA = 32768;
/**
 * Largest data part our writers put in one frame of an ordinary channel (measured: 32 KiB
 * frames cost a direct channel more CPU per byte on loopback, 0.8-1.2 ms vs 0.5-0.8 ms
 * per MiB, bench/connection.ts).
 */
export const WRITE_FRAME_DATA = 16384;
/**
 * Largest data part in one frame of a tunnel's channels (signals 4 and 5; the most a
 * reader takes), and so of the virtual connection inside, whose frames fill them exactly.
 * A tunnel's frames are handled in three processes: 32 KiB frames cut a relayed
 * transfer's CPU per byte by about a third against 16 KiB (same syscalls, half the
 * frames; bench/relay.ts).
 */
export const TUNNEL_FRAME_DATA = MAX_FRAME_DATA;
/**
 * Send credit every channel starts with, in both directions, and the window a receiver
 * grants a channel while its connection carries more than {@link GROWN_WINDOW_CHANNELS}.
 * A sender never has more unacknowledged bytes in flight than the receiver granted, so
 * a receiver never buffers more than its window per channel.
 */
export const CHANNEL_WINDOW = 256 * 1024;
/**
 * Largest window a receiver grants (credit above it is a protocol error). Granted while
 * a connection carries few channels: two hops of a tunnel (or one busy hop) need more
 * bytes in flight than 256 KiB to keep the link full.
 */
export const MAX_CHANNEL_WINDOW = 1024 * 1024;
/**
 * A connection with at most this many channels grants each {@link MAX_CHANNEL_WINDOW};
 * so at most this many grown windows are outstanding at once, and a connection buffers
 * at most channels × 256 KiB + 8 × 768 KiB.
 */
export const GROWN_WINDOW_CHANNELS = 8;
/** A receiver returns credit once at least this share of its window can be returned (fewer tiny updates). */
export const WINDOW_UPDATE_DIVISOR = 4;
/** Handshake request: version (1) + peer ID (20) + service port (2). */
export const HANDSHAKE_REQUEST_LENGTH = 1 + PEER_ID_LENGTH + 2;
/** Handshake response: status (1) + acceptor peer ID (20). */
export const HANDSHAKE_RESPONSE_LENGTH = 1 + PEER_ID_LENGTH;

/** Frame signals (§1.5 numbering, extended into the values the original left unused). */
export const Signal = {
  /** Keep-alive; channel name ignored, no data. */
  NOOP: 0,
  /** Open a channel (the original's ConnectChannelBitChatNetwork). */
  CONNECT_CHANNEL: 1,
  /** Channel payload bytes. */
  CHANNEL_DATA: 2,
  /** Refuse an open, or abort a channel (both directions, unread data discarded). */
  DISCONNECT_CHANNEL: 3,
  /** Ask the receiver to open a tunnel to the end point encoded in the name (EPN). */
  CONNECT_PROXY_TUNNEL: 4,
  /** A tunnel node opens the far end of a tunnel; name = EPN of the requester. */
  CONNECT_PROXY_CONNECTION: 5,
  /** Ours: the receiver accepted an open. */
  CHANNEL_ACCEPT: 6,
  /** Ours: the sender will write no more on this channel (half-close). */
  CHANNEL_END: 7,
  /** Does the receiver hold a connection to the EPN in the name? */
  PEER_STATUS_QUERY: 8,
  /** Yes (answer to 8). */
  PEER_STATUS_AVAILABLE: 9,
  /** Relay plugin signals, passed through to whoever registered them. */
  START_TCP_RELAY: 10,
  STOP_TCP_RELAY: 11,
  TCP_RELAY_RESPONSE_SUCCESS: 12,
  TCP_RELAY_RESPONSE_PEER_LIST: 13,
  /** Ours: return `u32 LE` bytes of send credit on a channel. */
  WINDOW_UPDATE: 14,
  /** Invitation signal, passed through to whoever registered it. */
  NETWORK_INVITATION: 15,
  /** Ours: no (answer to 8), so a requester need not wait for its timeout. */
  PEER_STATUS_UNAVAILABLE: 16,
} as const;

export type SignalValue = (typeof Signal)[keyof typeof Signal];

/** Signals the connection layer does not interpret: delivered to a registered handler or dropped. */
export const EXTENSION_SIGNALS: ReadonlySet<number> = new Set([
  Signal.START_TCP_RELAY,
  Signal.STOP_TCP_RELAY,
  Signal.TCP_RELAY_RESPONSE_SUCCESS,
  Signal.TCP_RELAY_RESPONSE_PEER_LIST,
  Signal.NETWORK_INVITATION,
]);

/** Handshake response status byte. */
export const HandshakeStatus = {
  OK: 0,
  /** The acceptor keeps another connection to the initiator (its peer ID follows). */
  DUPLICATE: 1,
  /** The initiator is the acceptor itself. */
  SELF: 2,
  /** The acceptor is at its connection limit. */
  BUSY: 3,
} as const;

export type HandshakeStatusValue = (typeof HandshakeStatus)[keyof typeof HandshakeStatus];

/** Tunable limits and timeouts; every field has a default (see {@link DEFAULT_LIMITS}). */
export interface ConnectionLimits {
  /** TCP connect timeout. @default 10000 */
  connectTimeoutMs: number;
  /** Time allowed for the whole handshake. @default 10000 */
  handshakeTimeoutMs: number;
  /** A connection that receives nothing for this long is dead. @default 120000 */
  readTimeoutMs: number;
  /** Send a NOOP when nothing was sent for this long. @default 30000 */
  keepAliveMs: number;
  /** A connection whose stream stays full (peer not reading) for this long is closed. @default 30000 */
  writeTimeoutMs: number;
  /** Wait for an answer to a channel open. @default 10000 */
  channelOpenTimeoutMs: number;
  /** Wait for a peer-status answer when looking for a tunnel node. @default 10000 */
  peerStatusTimeoutMs: number;
  /** Channels per connection (both directions). @default 128 */
  maxChannels: number;
  /** Registered connections per node; more inbound get a BUSY answer. @default 1024 */
  maxConnections: number;
  /** Connections in handshake at once; more are closed at accept. @default 256 */
  maxPendingHandshakes: number;
  /** Tunnels this node relays for others at once; 0 = serve none. @default 256 */
  maxRelayedTunnels: number;
  /** Try a tunnel through a connected node when a direct dial fails. @default true */
  tunnelFallback: boolean;
}

export const DEFAULT_LIMITS: Readonly<ConnectionLimits> = Object.freeze({
  connectTimeoutMs: 10_000,
  handshakeTimeoutMs: 10_000,
  readTimeoutMs: 120_000,
  keepAliveMs: 30_000,
  writeTimeoutMs: 30_000,
  channelOpenTimeoutMs: 10_000,
  peerStatusTimeoutMs: 10_000,
  maxChannels: 128,
  maxConnections: 1024,
  maxPendingHandshakes: 256,
  maxRelayedTunnels: 256,
  tunnelFallback: true,
});
