import type { Duplex } from 'node:stream';

/** A TCP end point: a host name or IP literal and a port. */
export interface Endpoint {
  host: string;
  port: number;
}

/** 20 bytes: a chat network's ID (the BitTorrent info-hash it is announced under). */
export type NetworkId = Buffer;

/** 20 bytes: a node's random ID for one run, sent in the connection handshake. */
export type PeerId = Buffer;

/** Where a peer end point was learned: the discovery plugin's name, 'peer-exchange', 'config'... */
export type DiscoverySource = string;

/** What `hooks.dial` is asked to connect. */
export interface DialRequest {
  endpoint: Endpoint;
  /** Give up after this many milliseconds. */
  timeoutMs: number;
  /** Aborted when the caller no longer wants the connection. */
  signal?: AbortSignal;
}

/** What `hooks.announce` asks discovery plugins to publish. */
export interface AnnounceRequest {
  networkId: NetworkId;
  /** The port peers should connect to (our listener, or a relay's). */
  port: number;
}

/** A connection to another node, as the layers above see it when it opens or closes. */
export interface PeerConnectionInfo {
  peerId: PeerId;
  remote: Endpoint;
  direction: 'inbound' | 'outbound';
  /** True for a tunnel through a third node (relay or mesh member). */
  virtual: boolean;
}

/** What `hooks.verifyCertificate` is asked to judge. */
export interface CertificateCheck {
  /** DER bytes of the peer's certificate chain, leaf first. */
  chain: Buffer[];
  /** A stapled revocation status, when the peer sent one. */
  staple?: Buffer;
  /** The chat network the session is for, if any. */
  networkId?: NetworkId;
}

/** A tap's verdict on a certificate; `undefined` from a tap means "no opinion". */
export interface CertificateVerdict {
  ok: boolean;
  /** A stable error code when `ok` is false, e.g. ERR_CERT_REVOKED. */
  code?: string;
  reason?: string;
}

/** A decoded chat message as it reaches `hooks.message`. */
export interface MessageEvent {
  networkId: NetworkId;
  /** Numeric type (spec §4.4 numbering, extended by plugins). */
  type: number;
  /** The sending peer's certificate e-mail or fingerprint. */
  from: string;
  body: unknown;
}

/** Lets plugins add message types (file-share does). */
export interface MessageTypeRegistry {
  register(type: number, name: string, owner: string): void;
}

/** A duplex byte stream to a peer, as supplied by `hooks.dial`. */
export type PeerStream = Duplex;
