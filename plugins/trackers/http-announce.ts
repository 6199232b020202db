/**
 * HTTP tracker announces (BEP 3, BEP 23 compact, BEP 7 `peers6`, BEP 24
 * `external ip`), replacing `bittorrent-tracker`'s HTTP request path, which
 * reads a response of any size into memory and mangles dictionary peer lists.
 *
 * Request: `GET <announce>?info_hash=..&peer_id=..&port=..&uploaded=0&downloaded=0
 * &left=0&numwant=50&compact=1&event=..`, every byte outside [A-Za-z0-9-._~]
 * percent-encoded; `Connection: close` (no keep-alive, spec §6.1), identity
 * encoding (no gzip, so no decompression bomb), a timeout, a size cap.
 *
 * Response (a bencoded dictionary):
 *
 * | key             | form                         | use                              |
 * | --------------- | ---------------------------- | -------------------------------- |
 * | failure reason  | string                       | the request failed               |
 * | warning message | string                       | logged                           |
 * | interval        | integer, seconds             | re-announce period               |
 * | min interval    | integer, seconds             | never announce more often        |
 * | tracker id      | string                       | echoed as `trackerid`            |
 * | peers           | string, n x 6 (IPv4 + port)  | compact peers (BEP 23)           |
 * | peers           | list of {ip, port}           | converted to compact             |
 * | peers6          | string, n x 18 (IPv6 + port) | compact IPv6 peers (BEP 7)       |
 * | external ip     | string, 4 or 16 bytes        | our address as the tracker sees  |
 */
import { request as httpRequest, type Agent, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { decodeBencode, isDict, type BValue } from './bencode.js';
import { TrackerError } from './errors.js';

const IPV4_ENTRY = 6;
const IPV6_ENTRY = 18;
const UNRESERVED = /[A-Za-z0-9\-._~]/;
/** Dictionary-form peers converted at most (the compact cap applies later too). */
const MAX_DICT_PEERS = 1_000;

export interface AnnounceResponse {
  failure?: string;
  warning?: string;
  interval?: number;
  minInterval?: number;
  trackerId?: Buffer;
  externalIp?: Buffer;
  complete?: number;
  incomplete?: number;
  /** Compact IPv4 peers, a multiple of 6 bytes. */
  peers: Buffer;
  /** Compact IPv6 peers, a multiple of 18 bytes. */
  peers6: Buffer;
  /** What was wrong but survivable (odd-length lists, bad dictionary entries). */
  problems: string[];
}

/** Percent-encode every byte of a latin1/binary string or Buffer except the unreserved set. */
function encodeValue(value: string | number | Buffer): string {
  const bytes = Buffer.isBuffer(value) ? value : Buffer.from(String(value), 'latin1');
  let out = '';
  for (const b of bytes) {
    const ch = String.fromCharCode(b);
    out += UNRESERVED.test(ch) ? ch : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

export function buildAnnounceUrl(base: string, params: Record<string, string | number | Buffer | undefined>): string {
  const query = Object.entries(params)
    .filter((e): e is [string, string | number | Buffer] => e[1] !== undefined)
    .map(([k, v]) => `${encodeValue(k)}=${encodeValue(v)}`)
    .join('&');
  return base + (base.includes('?') ? '&' : '?') + query;
}

export interface HttpGetOptions {
  timeoutMs: number;
  maxBytes: number;
  userAgent: string;
  signal?: AbortSignal;
  /** A proxy's agent; without one the request goes direct (no keep-alive). */
  agent?: Agent;
}

/** GET with no keep-alive, a deadline and a body cap; resolves with a 200's body only. */
export function httpGetBounded(url: string, options: HttpGetOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parsed = new URL(url);
    const send = parsed.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(
      parsed,
      {
        method: 'GET',
        agent: options.agent ?? false,
        headers: { 'user-agent': options.userAgent, 'accept-encoding': 'identity', connection: 'close' },
        timeout: options.timeoutMs,
        ...(options.signal ? { signal: options.signal } : {}),
      },
      (res: IncomingMessage) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new TrackerError('ERR_TRACKER_HTTP_STATUS', `tracker answered HTTP ${res.statusCode}`));
          return;
        }
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > options.maxBytes) {
          req.destroy();
          reject(new TrackerError('ERR_TRACKER_RESPONSE_TOO_LARGE', `tracker response of ${declared} bytes (cap ${options.maxBytes})`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > options.maxBytes) {
            req.destroy();
            reject(new TrackerError('ERR_TRACKER_RESPONSE_TOO_LARGE', `tracker response over ${options.maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => resolve(Buffer.concat(chunks)));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new TrackerError('ERR_TRACKER_TIMEOUT', `no answer within ${options.timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

function int(v: BValue | undefined): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

function bytes(v: BValue | undefined): Buffer | undefined {
  return Buffer.isBuffer(v) ? v : undefined;
}

/** A compact list cut to whole entries; the remainder is reported as a problem. */
function wholeEntries(buf: Buffer, size: number, name: string, problems: string[]): Buffer {
  const extra = buf.length % size;
  if (extra !== 0) problems.push(`${name}: ${buf.length} bytes is not a multiple of ${size}`);
  return buf.subarray(0, buf.length - extra);
}

/** `[{ip, port}]` (the non-compact form) -> compact IPv4 and IPv6 lists. */
function dictionaryPeers(list: BValue[], problems: string[]): { v4: Buffer[]; v6: Buffer[] } {
  const v4: Buffer[] = [];
  const v6: Buffer[] = [];
  let bad = 0;
  for (const entry of list.slice(0, MAX_DICT_PEERS)) {
    const ip = isDict(entry) ? bytes(entry.ip)?.toString('latin1') : undefined;
    const port = isDict(entry) ? int(entry.port) : undefined;
    if (ip === undefined || port === undefined || port < 1 || port > 65535) {
      bad++;
      continue;
    }
    const family = isIP(ip);
    if (family === 4) {
      const b = Buffer.alloc(IPV4_ENTRY);
      ip.split('.').forEach((octet, i) => (b[i] = Number(octet)));
      b.writeUInt16BE(port, 4);
      v4.push(b);
    } else if (family === 6) {
      const b = Buffer.alloc(IPV6_ENTRY);
      ipv6Bytes(ip).copy(b);
      b.writeUInt16BE(port, 16);
      v6.push(b);
    } else {
      bad++; // host names: we never resolve names a tracker hands us
    }
  }
  if (bad > 0) problems.push(`peers: ${bad} unusable dictionary entries`);
  if (list.length > MAX_DICT_PEERS) problems.push(`peers: ${list.length - MAX_DICT_PEERS} dictionary entries over the cap`);
  return { v4, v6 };
}

/** 16 bytes of an IPv6 literal (already checked with isIP). */
export function ipv6Bytes(ip: string): Buffer {
  let text = ip.toLowerCase();
  const out = Buffer.alloc(16);
  // A trailing dotted quad (::ffff:1.2.3.4) becomes two groups.
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    const o = quad[1]!.split('.').map(Number);
    text = text.slice(0, -quad[1]!.length) + `${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  groups.slice(0, 8).forEach((g, i) => out.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return out;
}

/** Decode a tracker's HTTP answer; throws ERR_TRACKER_BAD_BENCODE / ERR_TRACKER_BAD_RESPONSE. */
export function decodeAnnounceResponse(body: Buffer): AnnounceResponse {
  const doc = decodeBencode(body);
  if (!isDict(doc)) throw new TrackerError('ERR_TRACKER_BAD_RESPONSE', 'tracker response is not a dictionary');
  const problems: string[] = [];
  const failure = bytes(doc['failure reason']);
  if (failure) return { failure: failure.toString('utf8').slice(0, 200), peers: Buffer.alloc(0), peers6: Buffer.alloc(0), problems };
  const interval = int(doc.interval);
  if (interval === undefined) throw new TrackerError('ERR_TRACKER_BAD_RESPONSE', 'tracker response has no interval');

  let peers: Buffer = Buffer.alloc(0);
  let peers6: Buffer = Buffer.alloc(0);
  const rawPeers = doc.peers;
  if (Buffer.isBuffer(rawPeers)) peers = wholeEntries(rawPeers, IPV4_ENTRY, 'peers', problems);
  else if (Array.isArray(rawPeers)) {
    const { v4, v6 } = dictionaryPeers(rawPeers, problems);
    peers = Buffer.concat(v4);
    peers6 = Buffer.concat(v6);
  } else if (rawPeers !== undefined) problems.push('peers: neither a string nor a list');
  // BEP 7 names it `peers6`; some trackers used `peers_ipv6`.
  const raw6 = bytes(doc.peers6) ?? bytes(doc.peers_ipv6);
  if (raw6) peers6 = Buffer.concat([peers6, wholeEntries(raw6, IPV6_ENTRY, 'peers6', problems)]);

  const warning = bytes(doc['warning message']);
  const out: AnnounceResponse = { interval, peers, peers6, problems };
  if (warning) out.warning = warning.toString('utf8').slice(0, 200);
  const minInterval = int(doc['min interval']);
  if (minInterval !== undefined) out.minInterval = minInterval;
  const trackerId = bytes(doc['tracker id']);
  if (trackerId && trackerId.length <= 64) out.trackerId = Buffer.from(trackerId);
  const externalIp = bytes(doc['external ip']);
  if (externalIp && (externalIp.length === 4 || externalIp.length === 16)) out.externalIp = Buffer.from(externalIp);
  const complete = int(doc.complete);
  if (complete !== undefined) out.complete = complete;
  const incomplete = int(doc.incomplete);
  if (incomplete !== undefined) out.incomplete = incomplete;
  return out;
}
