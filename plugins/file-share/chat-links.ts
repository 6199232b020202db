/**
 * Wires the file-share service to the chat layer's member sessions: one PeerLink
 * per remote node, however many chats it shares with us (the engine keys links
 * by peer ID). The link rides on one of those sessions, the "carrier": chat
 * messages on its port 0, block data on stream port BLOCK_STREAM_PORT. Both nodes
 * pick the carrier the same way (lowest network ID among the open sessions), so
 * block frames go where the other side reads. When the carrier closes, the link
 * moves to the next session (the engine re-queues what was in flight) or is
 * detached when none is left.
 *
 * Peer IDs are node IDs (the connection layer's 20-byte peer ID, in hex), not
 * identities: two devices of one user are two nodes with two links, and a node's
 * own other devices are peers like any other. So file-share messages are taken
 * from each session directly (which node sent it is known there), not from
 * `hooks.message` (which names only the identity). Chats are network IDs in hex:
 * the same on every member's node, unlike local chat numbers.
 */
import type { Duplex } from 'node:stream';
import type { FileShareService } from './service.js';
import { isFileShareMessage } from './wire.js';

/** Session port (spec §4.2) of the block stream. */
export const BLOCK_STREAM_PORT = 1;

/** What file sharing needs of one chat session. */
export interface CarrierSession {
  readonly closed: boolean;
  /** The remote node's ID (connection layer). */
  readonly peerId: Buffer;
  send(message: Buffer): void;
  openStream(port: number): Duplex;
  /** 'message': one chat message (type byte ‖ payload) from the peer; 'close': the session ended. */
  on(event: 'message', listener: (message: Buffer) => void): unknown;
  off(event: 'message', listener: (message: Buffer) => void): unknown;
  once(event: 'close', listener: () => void): unknown;
}

export interface MemberSessionLike {
  networkId: Buffer;
  /** The peer's identity (e-mail): shown to people; several nodes may share one. */
  peer: string;
  session: CarrierSession;
}

/** The chat facade as file sharing sees it (service `chat`). */
export interface ChatSessionSource {
  onSession(listener: (s: MemberSessionLike) => void): () => void;
}

interface PeerState {
  identity: string;
  sessions: Set<MemberSessionLike>;
  chats: Set<string>;
  carrier: MemberSessionLike | null;
  stream: Duplex | null;
}

export class ChatLinks {
  readonly stats = { sessionsSeen: 0, linksAttached: 0, linksMoved: 0, linksDetached: 0 };
  readonly #service: FileShareService;
  readonly #source: ChatSessionSource;
  readonly #selfId: string;
  readonly #peers = new Map<string, PeerState>();
  /** Per session: its message listener, removed when the links stop. */
  readonly #listening = new Map<MemberSessionLike, (message: Buffer) => void>();
  #unsubscribe: (() => void) | null = null;

  /** `selfId`: this node's ID in hex, as its peers see it in `session.peerId`. */
  constructor(service: FileShareService, source: ChatSessionSource, selfId: string) {
    this.#service = service;
    this.#source = source;
    this.#selfId = selfId;
  }

  get source(): ChatSessionSource {
    return this.#source;
  }

  /** Sets the engine's `selfId` to our node ID and links every open and future member session. */
  start(): void {
    if (this.#unsubscribe) return;
    this.#service.selfId = this.#selfId;
    this.#unsubscribe = this.#source.onSession((s) => this.#add(s));
  }

  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    for (const [s, listener] of this.#listening) s.session.off('message', listener);
    this.#listening.clear();
    for (const [peerId, peer] of this.#peers) this.#detach(peerId, peer);
    this.#peers.clear();
  }

  /** Peers with a link now. */
  get linked(): string[] {
    return [...this.#peers].filter(([, p]) => p.carrier).map(([id]) => id);
  }

  #add(s: MemberSessionLike): void {
    if (!this.#unsubscribe || s.session.closed || this.#listening.has(s)) return;
    this.stats.sessionsSeen++;
    const peerId = s.session.peerId.toString('hex');
    let peer = this.#peers.get(peerId);
    if (!peer) this.#peers.set(peerId, (peer = { identity: s.peer, sessions: new Set(), chats: new Set(), carrier: null, stream: null }));
    const chat = s.networkId.toString('hex');
    peer.sessions.add(s);
    peer.chats.add(chat);
    const onMessage = (message: Buffer): void => {
      if (isFileShareMessage(message)) this.#service.handleMessage(peerId, message, chat);
    };
    this.#listening.set(s, onMessage);
    s.session.on('message', onMessage);
    s.session.once('close', () => this.#remove(peerId, s));
    this.#relink(peerId, peer);
  }

  #remove(peerId: string, s: MemberSessionLike): void {
    const listener = this.#listening.get(s);
    if (listener) s.session.off('message', listener);
    this.#listening.delete(s);
    const peer = this.#peers.get(peerId);
    if (!peer || !peer.sessions.delete(s)) return;
    peer.chats.clear();
    for (const other of peer.sessions) peer.chats.add(other.networkId.toString('hex'));
    if (peer.carrier === s) this.#detach(peerId, peer);
    if (peer.sessions.size === 0) this.#peers.delete(peerId);
    else this.#relink(peerId, peer);
  }

  #relink(peerId: string, peer: PeerState): void {
    let best: MemberSessionLike | null = null;
    for (const s of peer.sessions) {
      if (s.session.closed) continue;
      if (!best || Buffer.compare(s.networkId, best.networkId) < 0) best = s;
    }
    if (best === peer.carrier) return;
    if (peer.carrier) {
      this.stats.linksMoved++;
      this.#detach(peerId, peer);
    }
    if (!best || !this.#service.running) return;
    const carrier = best;
    const stream = carrier.session.openStream(BLOCK_STREAM_PORT);
    peer.carrier = carrier;
    peer.stream = stream;
    this.stats.linksAttached++;
    this.#service.attachPeer({
      peerId,
      identity: peer.identity,
      sendMessage: (message, chats) => this.#via(peer, carrier, chats).session.send(message),
      blocks: stream,
      // A protocol violation ends the block stream only; the chat goes on.
      close: () => stream.destroy(),
      chats: peer.chats,
    });
  }

  /** The carrier, unless the message is about chats it is not in: then a session of one of those. */
  #via(peer: PeerState, carrier: MemberSessionLike, chats: ReadonlySet<string> | undefined): MemberSessionLike {
    if (!chats || chats.has(carrier.networkId.toString('hex'))) return carrier;
    for (const s of peer.sessions) if (!s.session.closed && chats.has(s.networkId.toString('hex'))) return s;
    return carrier;
  }

  #detach(peerId: string, peer: PeerState): void {
    if (!peer.carrier) return;
    this.stats.linksDetached++;
    this.#service.detachPeer(peerId);
    peer.stream?.destroy();
    peer.carrier = null;
    peer.stream = null;
  }
}
