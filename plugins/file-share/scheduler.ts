/**
 * The download brain for one file, independent of any transport: it knows
 * which peer has which block, decides what to request from whom, and reacts
 * to blocks, refusals, bad hashes, timeouts and peers leaving. The caller
 * verifies hashes and moves bytes; the scheduler only sees block numbers.
 *
 * Choice rules, in order:
 * 1. Rarest first: missing blocks are visited by how many *partial* peers
 *    (other downloaders) hold them, ties in a random order fixed per download.
 *    The order shuffles runs of RUN_BLOCKS contiguous blocks (fewer when the file
 *    has under MIN_ORDER_RUNS runs of them), not single blocks: requests to one
 *    peer then come in runs the sender reads, and the receiver writes, in one
 *    file operation each.
 * 2. Partial peers before complete ones: a block some downloader already holds
 *    is fetched from a downloader, so the seeder is not asked twice for it.
 * 3. Stripes: a block only complete peers (seeders) hold is asked of them only
 *    by its stripe owner, `members[floor(block / run) % members.length]`, where
 *    members are this node and the partial peers sorted by ID and `run` is the
 *    order's run, shorter when members would own under RUNS_PER_MEMBER runs each.
 *    Each block then leaves the
 *    seeder about once and spreads among downloaders; when a downloader
 *    completes or leaves, the stripes are redrawn.
 * 4. When nothing else can be requested and nothing is in flight, one block
 *    outside the stripe is asked of a seeder, so a stalled stripe owner costs
 *    speed, never completion.
 * Each peer has up to `pipeline` requests in flight, after a slow start: at
 * first SLOW_START_SLOTS, one more per block it delivered. Downloaders that start
 * together do not know each other yet, so each takes every stripe; a full
 * pipeline each would have the seeder send the start of the file several times.
 * A request older than
 * `requestTimeoutMs` is cancelled and re-queued. A block that fails its hash
 * is re-queued, its sender never asked for that block again, and struck; at
 * `maxStrikes` the sender is banned from this download.
 */
import { Bitfield } from './bitfield.js';

/** Smallest interval between timeout sweeps. */
const MIN_SWEEP_MS = 50;
/** Contiguous blocks the download order keeps together (16 x 64 KiB = 1 MiB), at most. */
export const RUN_BLOCKS = 16;
/**
 * The order keeps at least this many runs (shorter runs for smaller files): downloaders
 * that start together each begin at a random run, and with few runs they would start
 * at the same ones and ask the seeder for the same blocks.
 */
const MIN_ORDER_RUNS = 64;
/** Requests in flight to a peer before it delivered anything (see slow start above). */
const SLOW_START_SLOTS = 4;
/** A stripe run is at most blockCount / (members x this), so each member owns several runs. */
const RUNS_PER_MEMBER = 4;

export interface SchedulerOptions {
  /** This node's peer ID (orders the stripes). */
  selfId: string;
  blockCount: number;
  /** Blocks already stored. */
  have: Bitfield;
  /** Requests in flight per peer. @default 32 */
  pipeline?: number;
  /** @default 30000 */
  requestTimeoutMs?: number;
  /** Bad blocks before a peer is banned. @default 3 */
  maxStrikes?: number;
  /** Ask `peerId` for `block` (send a REQUEST). */
  request(peerId: string, block: number): void;
  /** Withdraw a request (send a CANCEL). */
  cancel(peerId: string, block: number): void;
  /** Told when a peer is banned. */
  onBan?(peerId: string): void;
  random?: () => number;
}

interface PeerState {
  bits: Bitfield;
  inFlight: Map<number, number>;
  strikes: number;
  timeouts: number;
  banned: boolean;
  received: number;
}

type ResolvedOptions = Required<Omit<SchedulerOptions, 'onBan'>> & Pick<SchedulerOptions, 'onBan'>;

export type BlockVerdict = 'accepted' | 'duplicate' | 'bad' | 'banned';

export interface SchedulerStats {
  requested: number;
  accepted: number;
  bad: number;
  timeouts: number;
  rejected: number;
  offStripe: number;
}

export class DownloadScheduler {
  readonly done: Bitfield;
  readonly stats: SchedulerStats = { requested: 0, accepted: 0, bad: 0, timeouts: 0, rejected: 0, offStripe: 0 };
  readonly #o: ResolvedOptions;
  readonly #peers = new Map<string, PeerState>();
  /** block -> peer it is requested from. */
  readonly #inFlight = new Map<number, string>();
  /** block -> peers that sent a bad copy of it. */
  readonly #excluded = new Map<number, Set<string>>();
  readonly #order: number[];
  /** Blocks per run of the order (RUN_BLOCKS, fewer for small files). */
  readonly #run: number;
  readonly #availability: Uint16Array;
  #availabilityDirty = true;
  #fillPending: NodeJS.Immediate | null = null;
  #sweep: NodeJS.Timeout | null = null;
  #running = true;

  constructor(options: SchedulerOptions) {
    this.#o = {
      pipeline: 32, requestTimeoutMs: 30_000, maxStrikes: 3, random: Math.random, ...options,
    };
    this.done = new Bitfield(options.blockCount, options.have.bytes);
    this.#availability = new Uint16Array(options.blockCount);
    this.#run = Math.max(1, Math.min(RUN_BLOCKS, Math.floor(options.blockCount / MIN_ORDER_RUNS)));
    const run = this.#run;
    const runs = [...Array(Math.ceil(options.blockCount / run)).keys()];
    for (let i = runs.length - 1; i > 0; i--) {
      const j = Math.floor(this.#o.random() * (i + 1));
      [runs[i], runs[j]] = [runs[j]!, runs[i]!];
    }
    this.#order = [];
    for (const r of runs) for (let b = r * run; b < Math.min(options.blockCount, (r + 1) * run); b++) this.#order.push(b);
    const every = Math.max(MIN_SWEEP_MS, Math.floor(this.#o.requestTimeoutMs / 4));
    this.#sweep = setInterval(() => this.#checkTimeouts(Date.now()), every);
    this.#sweep.unref();
  }

  get complete(): boolean {
    return this.done.complete;
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Peers that are not banned and hold at least one block we miss or sent us one. */
  get activePeers(): number {
    let n = 0;
    for (const p of this.#peers.values()) if (!p.banned && (p.inFlight.size > 0 || p.received > 0)) n++;
    return n;
  }

  isBanned(peerId: string): boolean {
    return this.#peers.get(peerId)?.banned ?? false;
  }

  /** What a peer holds (BITFIELD, or an advertisement = all). Replaces what was known. */
  setPeerBits(peerId: string, bits: Bitfield): void {
    const old = this.#peers.get(peerId);
    if (old) old.bits = new Bitfield(this.done.size, bits.bytes);
    else this.#peers.set(peerId, { bits: new Bitfield(this.done.size, bits.bytes), inFlight: new Map(), strikes: 0, timeouts: 0, banned: false, received: 0 });
    this.#availabilityDirty = true;
    this.scheduleFill();
  }

  /** A HAVE: the peer now holds `block`. */
  peerHas(peerId: string, block: number): void {
    const p = this.#peers.get(peerId);
    if (!p) {
      const bits = new Bitfield(this.done.size);
      bits.set(block);
      this.setPeerBits(peerId, bits);
      return;
    }
    if (p.bits.set(block)) {
      this.#availabilityDirty = true;
      this.scheduleFill();
    }
  }

  /** The peer left (link closed, LEAVE): its requests go back to the queue. */
  removePeer(peerId: string): void {
    const p = this.#peers.get(peerId);
    if (!p) return;
    for (const block of p.inFlight.keys()) this.#inFlight.delete(block);
    this.#peers.delete(peerId);
    this.#availabilityDirty = true;
    this.scheduleFill();
  }

  /** A block arrived from `peerId`; `valid` is the caller's hash check. */
  onBlock(peerId: string, block: number, valid: boolean): BlockVerdict {
    const p = this.#peers.get(peerId);
    if (p?.inFlight.delete(block)) this.#inFlight.delete(block);
    if (p?.banned) return 'banned';
    if (!valid) {
      this.stats.bad++;
      let ex = this.#excluded.get(block);
      if (!ex) this.#excluded.set(block, (ex = new Set()));
      ex.add(peerId);
      if (p) {
        p.strikes++;
        if (p.strikes >= this.#o.maxStrikes) this.#ban(peerId, p);
      }
      this.scheduleFill();
      return p?.banned ? 'banned' : 'bad';
    }
    if (!this.done.set(block)) return 'duplicate';
    if (p) p.received++;
    this.stats.accepted++;
    // Someone else may hold a duplicate request for it (after a timeout): withdraw it.
    const other = this.#inFlight.get(block);
    if (other !== undefined) {
      this.#inFlight.delete(block);
      this.#peers.get(other)?.inFlight.delete(block);
      this.#o.cancel(other, block);
    }
    this.scheduleFill();
    return 'accepted';
  }

  /** The peer refused a request (does not have it, paused, busy). */
  onReject(peerId: string, block: number): void {
    const p = this.#peers.get(peerId);
    if (!p) return;
    if (p.inFlight.delete(block)) this.#inFlight.delete(block);
    this.stats.rejected++;
    if (p.bits.clear(block)) this.#availabilityDirty = true;
    this.scheduleFill();
  }

  scheduleFill(): void {
    if (!this.#running || this.#fillPending) return;
    this.#fillPending = setImmediate(() => {
      this.#fillPending = null;
      this.fill();
    });
  }

  /** Issues as many requests as the rules allow. */
  fill(): void {
    if (!this.#running || this.done.complete) return;
    const pipeline = this.#o.pipeline;
    const usable = [...this.#peers.entries()].filter(([, p]) => !p.banned);
    const withSlots = (): boolean => usable.some(([, p]) => p.inFlight.size < slots(p, pipeline));
    if (!withSlots()) return;
    if (this.#availabilityDirty) this.#recount();
    const members = [this.#o.selfId, ...usable.filter(([, p]) => !p.bits.complete).map(([id]) => id)].sort();
    const myRank = members.indexOf(this.#o.selfId);
    const run = Math.max(1, Math.min(this.#run, Math.floor(this.done.size / (members.length * RUNS_PER_MEMBER))));
    const buckets: number[][] = [];
    for (const b of this.#order) {
      if (this.done.has(b) || this.#inFlight.has(b)) continue;
      (buckets[this.#availability[b]!] ??= []).push(b);
    }
    let issued = 0;
    for (const bucket of buckets) {
      if (!bucket) continue;
      for (const b of bucket) {
        const ex = this.#excluded.get(b);
        let partialHolder = false;
        let best: [string, PeerState] | undefined;
        for (const entry of usable) {
          const [id, p] = entry;
          if (p.bits.complete || !p.bits.has(b) || ex?.has(id)) continue;
          partialHolder = true;
          if (p.inFlight.size < slots(p, pipeline) && (!best || p.inFlight.size < best[1].inFlight.size)) best = entry;
        }
        if (!best && !partialHolder && Math.floor(b / run) % members.length === myRank) best = this.#leastLoadedSeeder(usable, b);
        if (best) {
          this.#issue(best[0], best[1], b);
          issued++;
          if (!withSlots()) return;
        }
      }
    }
    if (issued === 0 && this.#inFlight.size === 0) {
      for (const b of this.#order) {
        if (this.done.has(b)) continue;
        const seeder = this.#leastLoadedSeeder(usable, b);
        if (seeder) {
          this.stats.offStripe++;
          this.#issue(seeder[0], seeder[1], b);
          return;
        }
      }
    }
  }

  /** Stops issuing and withdraws every request in flight (pause, cancel, completion). */
  close(): void {
    this.#running = false;
    if (this.#fillPending) clearImmediate(this.#fillPending);
    this.#fillPending = null;
    if (this.#sweep) clearInterval(this.#sweep);
    this.#sweep = null;
    for (const [block, peerId] of this.#inFlight) {
      this.#peers.get(peerId)?.inFlight.delete(block);
      this.#o.cancel(peerId, block);
    }
    this.#inFlight.clear();
  }

  #leastLoadedSeeder(usable: Array<[string, PeerState]>, b: number): [string, PeerState] | undefined {
    const ex = this.#excluded.get(b);
    let best: [string, PeerState] | undefined;
    for (const entry of usable) {
      const [id, p] = entry;
      if (!p.bits.complete || ex?.has(id) || p.inFlight.size >= slots(p, this.#o.pipeline)) continue;
      if (!best || p.inFlight.size < best[1].inFlight.size) best = entry;
    }
    return best;
  }

  #issue(peerId: string, p: PeerState, block: number): void {
    p.inFlight.set(block, Date.now() + this.#o.requestTimeoutMs);
    this.#inFlight.set(block, peerId);
    this.stats.requested++;
    this.#o.request(peerId, block);
  }

  #ban(peerId: string, p: PeerState): void {
    p.banned = true;
    for (const block of p.inFlight.keys()) {
      this.#inFlight.delete(block);
      this.#o.cancel(peerId, block);
    }
    p.inFlight.clear();
    this.#availabilityDirty = true;
    this.#o.onBan?.(peerId);
  }

  #recount(): void {
    this.#availability.fill(0);
    for (const p of this.#peers.values()) {
      if (p.banned || p.bits.complete) continue;
      for (let b = 0; b < this.done.size; b++) if (p.bits.has(b)) this.#availability[b]!++;
    }
    this.#availabilityDirty = false;
  }

  #checkTimeouts(now: number): void {
    let expired = false;
    for (const [peerId, p] of this.#peers) {
      for (const [block, deadline] of p.inFlight) {
        if (deadline > now) continue;
        p.inFlight.delete(block);
        this.#inFlight.delete(block);
        p.timeouts++;
        this.stats.timeouts++;
        this.#o.cancel(peerId, block);
        expired = true;
      }
    }
    if (expired) this.scheduleFill();
  }
}

/** Requests `p` may have in flight now: the pipeline, reached by slow start. */
function slots(p: PeerState, pipeline: number): number {
  return Math.min(pipeline, SLOW_START_SLOTS + p.received);
}
