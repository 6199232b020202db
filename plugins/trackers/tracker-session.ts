/**
 * One network announced on one tracker URL: a `bittorrent-tracker` client for
 * that single URL, with the schedule taken over by us.
 *
 * The library re-announces on its own timer and only reads `interval` (falling
 * back to `min interval`); we need `min interval` honoured, back-off on
 * failure, and a fast cadence while a mesh is incomplete. So the library's
 * per-tracker `setInterval` is replaced by a hook that only records the
 * interval the tracker asked for, and this class decides when to announce.
 */
import type { ProxiedAgents } from '../../core/network-policy.js';
import { randomBytes } from 'node:crypto';
import { Client, type TrackerUpdate } from 'bittorrent-tracker';
import { HTTP_TIMEOUT_MS, MAX_HTTP_RESPONSE_BYTES, NUMWANT, PEER_ID_PREFIX, REQUEST_GUARD_MS } from './constants.js';
import { buildAnnounceUrl, decodeAnnounceResponse, httpGetBounded } from './http-announce.js';

export type AnnounceEvent = 'started' | 'update' | 'stopped';

export interface SessionTiming {
  fastIntervalMs: number;
  defaultIntervalMs: number;
  minTrackerIntervalMs: number;
  maxTrackerIntervalMs: number;
  retryBaseMs: number;
  maxRetryMs: number;
  honourMinInterval: boolean;
  /** Agents that carry HTTP(S) announces through a proxy, when one is configured. */
  httpAgents?: () => ProxiedAgents | undefined;
}

export interface SessionEvents {
  /** A peer string ("host:port" or "[v6]:port") from this tracker's current response. */
  onPeer(addr: string, session: TrackerSession): void;
  /** A response arrived (stats, and own-address learning from `external ip`). */
  onResponse(update: TrackerUpdate, session: TrackerSession): void;
  /** A request failed (network, timeout, bad response, tracker failure reason). */
  onFailure(err: Error, session: TrackerSession): void;
  /** The library complained after a response was already taken (e.g. bad compact peers). */
  onMalformed(err: Error, session: TrackerSession): void;
  /** A request is about to be sent. */
  onRequest(event: AnnounceEvent, session: TrackerSession): void;
}

const USER_AGENT = 'bitchat/0.1';

function clamp(ms: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, ms));
}

export class TrackerSession {
  readonly url: string;
  readonly #client: Client;
  readonly #timing: SessionTiming;
  readonly #events: SessionEvents;
  /** Interval the tracker asked for (ms), clamped. */
  trackerIntervalMs: number | null = null;
  /** `min interval` the tracker asked for (ms), clamped; 0 when none. */
  minIntervalMs = 0;
  consecutiveFailures = 0;
  /** Peers taken from the current response. */
  peersThisResponse = 0;
  fast = true;
  /** The delay last scheduled (diagnostics, tests); null before any. */
  nextDelayMs: number | null = null;
  #lastRequestAt = 0;
  #timer: NodeJS.Timeout | null = null;
  #guard: NodeJS.Timeout | null = null;
  #waiters: Array<() => void> = [];
  /** HTTP requests in flight, aborted at close. */
  readonly #inFlight = new Set<AbortController>();
  #trackerId: Buffer | undefined;
  #awaiting = false;
  #closed = false;
  /** A "started" was sent (so "stopped" is owed at close). */
  #started = false;
  /** A tracker answered at least once (later announces are plain updates). */
  #acked = false;

  constructor(url: string, infoHash: Buffer, port: number, timing: SessionTiming, events: SessionEvents) {
    this.url = url;
    this.#timing = timing;
    this.#events = events;
    // Fresh peer_id per tracker entry (spec §6.1), so trackers cannot link our networks by it.
    const peerId = Buffer.concat([Buffer.from(PEER_ID_PREFIX, 'latin1'), randomBytes(12)]);
    this.#client = new Client({ infoHash, peerId, announce: [url], port, wrtc: false, userAgent: USER_AGENT });
    for (const tracker of this.#client._trackers) {
      if (/^https?:/.test(tracker.announceUrl)) {
        // Our bounded HTTP path instead of the library's unbounded one (see http-announce.ts).
        tracker._request = (requestUrl, params, cb) => this.#httpRequest(requestUrl, infoHash, peerId, port, params, cb);
      }
      // Take the schedule over: the library calls this with the tracker's interval after each response.
      tracker.setInterval = (intervalMs?: number) => {
        if (typeof intervalMs === 'number' && Number.isFinite(intervalMs) && intervalMs > 0) {
          this.trackerIntervalMs = clamp(intervalMs, timing.minTrackerIntervalMs, timing.maxTrackerIntervalMs);
        }
      };
    }
    this.#client.on('update', (data: TrackerUpdate) => this.#onUpdate(data));
    this.#client.on('peer', (addr: string) => {
      if (!this.#closed) this.#events.onPeer(String(addr), this);
    });
    this.#client.on('warning', (err: Error) => this.#onWarning(err));
    this.#client.on('error', (err: Error) => this.#onWarning(err));
  }

  /** Announce now (or, if `min interval` forbids it, when it allows); resolves on the answer or failure. */
  announce(event: AnnounceEvent): Promise<void> {
    if (this.#closed) return Promise.resolve();
    // One request at a time per tracker: a second caller waits for the answer in flight.
    if (this.#awaiting) return new Promise<void>((resolve) => this.#waiters.push(resolve));
    // Until a tracker has taken our "started", every announce is a "started".
    if (event === 'update' && !this.#acked) return this.#send('started');
    const wait = this.#honouredWait();
    if (event === 'update' && wait > 0) {
      this.#scheduleIn(wait);
      return Promise.resolve();
    }
    return this.#send(event);
  }

  /** Milliseconds until `min interval` allows another announce (0 = now). */
  #honouredWait(): number {
    if (!this.#timing.honourMinInterval || this.minIntervalMs === 0 || this.#lastRequestAt === 0) return 0;
    return Math.max(0, this.#lastRequestAt + this.minIntervalMs - Date.now());
  }

  /** True when the last `update` was deferred by `min interval`. */
  get deferred(): boolean {
    return this.#honouredWait() > 0;
  }

  setFast(fast: boolean): void {
    if (this.fast === fast) return;
    this.fast = fast;
    if (this.#timer && !this.#awaiting) this.#scheduleNext();
  }

  /** Send "stopped" (bounded wait) and close the client. */
  async close(stopWaitMs: number): Promise<void> {
    if (this.#closed) return;
    this.#clearTimer();
    if (this.#started) {
      const answered = this.#send('stopped');
      let t: NodeJS.Timeout | undefined;
      await Promise.race([answered, new Promise<void>((r) => (t = setTimeout(r, stopWaitMs)))]);
      if (t) clearTimeout(t);
    }
    this.#closed = true;
    this.#clearGuard();
    for (const c of this.#inFlight) c.abort();
    this.#inFlight.clear();
    this.#release();
    await new Promise<void>((resolve) => this.#client.destroy(() => resolve()));
  }

  #send(event: AnnounceEvent): Promise<void> {
    this.#clearTimer();
    this.#lastRequestAt = Date.now();
    this.#awaiting = true;
    this.peersThisResponse = 0;
    this.#events.onRequest(event, this);
    const opts = { numwant: NUMWANT, uploaded: 0, downloaded: 0, left: 0 };
    const done = new Promise<void>((resolve) => this.#waiters.push(resolve));
    if (event === 'started') {
      this.#started = true;
      this.#client.start(opts);
    } else if (event === 'stopped') {
      this.#client.stop(opts);
    } else {
      this.#client.update(opts);
    }
    // The library times out after 15 s on its own; this guard only keeps us from waiting forever.
    this.#clearGuard();
    this.#guard = setTimeout(() => this.#onWarning(new Error('tracker request guard timeout')), REQUEST_GUARD_MS);
    this.#guard.unref();
    return done;
  }

  #httpRequest(
    requestUrl: string,
    infoHash: Buffer,
    peerId: Buffer,
    port: number,
    params: Record<string, unknown>,
    cb: (err: Error | null, data?: Record<string, unknown>) => void,
  ): void {
    const event = typeof params.event === 'string' && ['started', 'stopped', 'completed'].includes(params.event) ? params.event : undefined;
    const url = buildAnnounceUrl(requestUrl, {
      info_hash: infoHash,
      peer_id: peerId,
      port,
      uploaded: 0,
      downloaded: 0,
      left: 0,
      numwant: NUMWANT,
      compact: 1,
      no_peer_id: 1,
      event,
      trackerid: this.#trackerId,
    });
    const controller = new AbortController();
    this.#inFlight.add(controller);
    const agents = this.#timing.httpAgents?.();
    httpGetBounded(url, {
      timeoutMs: HTTP_TIMEOUT_MS,
      maxBytes: MAX_HTTP_RESPONSE_BYTES,
      userAgent: USER_AGENT,
      signal: controller.signal,
      ...(agents ? { agent: url.startsWith('https:') ? agents.httpsAgent : agents.httpAgent } : {}),
    })
      .then((body) => {
        if (this.#closed) return;
        const r = decodeAnnounceResponse(body);
        if (r.failure !== undefined) {
          cb(new Error(`tracker refused: ${r.failure}`));
          return;
        }
        if (r.trackerId) this.#trackerId = r.trackerId;
        // The shape the library's _onAnnounceResponse reads (it emits 'update', then the peers).
        cb(null, {
          interval: r.interval,
          'min interval': r.minInterval,
          complete: r.complete,
          incomplete: r.incomplete,
          peers: r.peers,
          peers6: r.peers6,
          'external ip': r.externalIp,
        });
        // After the update: counted as malformed input, not as a failed request.
        for (const problem of r.problems) this.#client.emit('warning', new Error(problem));
      })
      .catch((err: Error) => {
        if (!this.#closed) cb(err);
      })
      .finally(() => this.#inFlight.delete(controller));
  }

  #onUpdate(data: TrackerUpdate): void {
    if (this.#closed) return;
    this.#clearGuard();
    this.#awaiting = false;
    this.consecutiveFailures = 0;
    this.peersThisResponse = 0;
    this.#acked = true;
    const min = Number(data['min interval']);
    if (Number.isFinite(min) && min > 0) {
      this.minIntervalMs = clamp(min * 1000, 0, this.#timing.maxTrackerIntervalMs);
    }
    this.#events.onResponse(data, this);
    this.#scheduleNext();
    // Peers follow this event synchronously; let them arrive before waiters go on.
    setImmediate(() => this.#release());
  }

  #onWarning(err: Error): void {
    if (this.#closed) return;
    if (!this.#awaiting) {
      this.#events.onMalformed(err, this);
      return;
    }
    this.#clearGuard();
    this.#awaiting = false;
    this.consecutiveFailures++;
    this.#events.onFailure(err, this);
    const backoff = this.#timing.retryBaseMs * 2 ** Math.min(this.consecutiveFailures - 1, 20);
    this.#scheduleIn(Math.min(this.#timing.maxRetryMs, backoff));
    this.#release();
  }

  #scheduleNext(): void {
    const base = this.fast ? this.#timing.fastIntervalMs : (this.trackerIntervalMs ?? this.#timing.defaultIntervalMs);
    const floor = this.#timing.honourMinInterval ? this.minIntervalMs : 0;
    this.#scheduleIn(Math.max(base, floor));
  }

  #scheduleIn(ms: number): void {
    this.#clearTimer();
    this.nextDelayMs = ms;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#send(this.#acked ? 'update' : 'started');
    }, ms);
    this.#timer.unref();
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #clearGuard(): void {
    if (this.#guard) clearTimeout(this.#guard);
    this.#guard = null;
  }

  #release(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}
