/**
 * A bounded bencode decoder (BEP 3) for tracker responses: untrusted bytes
 * from any tracker in the list, so every length is checked before it is read,
 * nesting depth and item count are capped, and nothing recurses without bound.
 *
 * | form        | bytes                          | decoded as            |
 * | ----------- | ------------------------------ | --------------------- |
 * | integer     | `i` [-]digits `e`              | number (safe integer) |
 * | byte string | digits `:` <that many bytes>   | Buffer (a view)       |
 * | list        | `l` <items> `e`                | BValue[]              |
 * | dictionary  | `d` (<string key> <value>)* `e`| BDict (latin1 keys)   |
 *
 * Refused (ERR_TRACKER_BAD_BENCODE): leading zeros (`i03e`), `i-0e`, integers
 * beyond 2^53, string lengths past the end, depth > maxDepth, more than
 * maxItems values, trailing bytes, non-string keys.
 */
import { TrackerError } from './errors.js';

export type BValue = number | Buffer | BValue[] | BDict;
export interface BDict {
  [key: string]: BValue;
}

export interface DecodeLimits {
  /** Deepest nesting of lists/dictionaries. @default 16 */
  maxDepth?: number;
  /** Most values in the whole document. @default 100000 */
  maxItems?: number;
}

const DEFAULT_MAX_DEPTH = 16;
const DEFAULT_MAX_ITEMS = 100_000;
/** Digits in a length or integer: 2^53 has 16. */
const MAX_DIGITS = 16;

const CH_I = 0x69;
const CH_L = 0x6c;
const CH_D = 0x64;
const CH_E = 0x65;
const CH_COLON = 0x3a;
const CH_MINUS = 0x2d;
const CH_0 = 0x30;
const CH_9 = 0x39;

function fail(reason: string, offset: number): never {
  throw new TrackerError('ERR_TRACKER_BAD_BENCODE', `bad bencode at byte ${offset}: ${reason}`);
}

/** Decode exactly one bencoded value that spans all of `buf`. */
export function decodeBencode(buf: Buffer, limits: DecodeLimits = {}): BValue {
  const maxDepth = limits.maxDepth ?? DEFAULT_MAX_DEPTH;
  const maxItems = limits.maxItems ?? DEFAULT_MAX_ITEMS;
  let pos = 0;
  let items = 0;

  const digits = (end: number, allowMinus: boolean): number => {
    const start = pos;
    const negative = allowMinus && buf[pos] === CH_MINUS;
    if (negative) pos++;
    const first = pos;
    while (pos < buf.length && buf[pos]! >= CH_0 && buf[pos]! <= CH_9) {
      if (pos - first >= MAX_DIGITS) fail('number too long', start);
      pos++;
    }
    if (pos === first) fail('digits expected', start);
    if (pos >= buf.length || buf[pos] !== end) fail(`'${String.fromCharCode(end)}' expected`, pos);
    if (buf[first] === CH_0 && pos - first > 1) fail('leading zero', start);
    const value = Number(buf.toString('latin1', first, pos));
    if (!Number.isSafeInteger(value)) fail('integer out of range', start);
    if (negative && value === 0) fail('negative zero', start);
    pos++; // the terminator
    return negative ? -value : value;
  };

  const byteString = (): Buffer => {
    const at = pos;
    const length = digits(CH_COLON, false);
    if (length > buf.length - pos) fail(`string of ${length} bytes runs past the end`, at);
    const out = buf.subarray(pos, pos + length);
    pos += length;
    return out;
  };

  const value = (depth: number): BValue => {
    if (pos >= buf.length) fail('value expected', pos);
    if (++items > maxItems) fail('too many values', pos);
    const c = buf[pos]!;
    if (c === CH_I) {
      pos++;
      return digits(CH_E, true);
    }
    if (c >= CH_0 && c <= CH_9) return byteString();
    if (c !== CH_L && c !== CH_D) fail(`unexpected byte 0x${c.toString(16)}`, pos);
    if (depth >= maxDepth) fail('nested too deeply', pos);
    pos++;
    if (c === CH_L) {
      const list: BValue[] = [];
      while (pos < buf.length && buf[pos] !== CH_E) list.push(value(depth + 1));
      if (pos >= buf.length) fail('unterminated list', pos);
      pos++;
      return list;
    }
    // Null prototype: keys such as "__proto__" from the wire stay plain data.
    const dict = Object.create(null) as BDict;
    while (pos < buf.length && buf[pos] !== CH_E) {
      const k = buf[pos]!;
      if (k < CH_0 || k > CH_9) fail('dictionary key must be a string', pos);
      if (++items > maxItems) fail('too many values', pos);
      const key = byteString().toString('latin1');
      dict[key] = value(depth + 1);
    }
    if (pos >= buf.length) fail('unterminated dictionary', pos);
    pos++;
    return dict;
  };

  const out = value(0);
  if (pos !== buf.length) fail('trailing bytes', pos);
  return out;
}

export function isDict(v: BValue | undefined): v is BDict {
  return typeof v === 'object' && v !== null && !Buffer.isBuffer(v) && !Array.isArray(v);
}
