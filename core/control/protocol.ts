/**
 * The control socket's wire format: newline-delimited JSON (UTF-8), one object per
 * line, both ways. Pure codecs; the server and the client own the sockets.
 *
 * | direction | line | fields |
 * | --- | --- | --- |
 * | client -> node | request | `id`: integer 0..2^53-1 or string of 1..64 chars; `method`: `area.verb` (<= 64 chars); `params`: object (optional, default `{}`); no other keys |
 * | node -> client | event | `id` of the request; `event`: name; `data`: JSON (streaming methods, before their result) |
 * | node -> client | result | `id`; `result`: JSON (the last line for that id) |
 * | node -> client | error | `id` (null when the request's id could not be read); `error`: `{ code, message }` (the last line for that id) |
 *
 * Every line is checked before use: the splitter caps a line's bytes before it is
 * decoded, the decoder refuses invalid UTF-8, non-objects, unknown keys and
 * out-of-range fields. Buffers in results are sent as lower-case hex.
 */
import type { Writable } from 'node:stream';
import { BitChatError } from '../errors.js';
import { ControlError, ControlErrorCode } from './errors.js';

/** The protocol version `node.status` reports; bumped on an incompatible change. */
export const CONTROL_PROTOCOL_VERSION = 1;
/** Cap of one request line (bytes, newline excluded): a `chat.send` of a text at the chat's cap (~64 KB) fits even with every character escaped twice over. */
export const MAX_REQUEST_BYTES = 256 * 1024;
/** Cap of one reply line the client accepts (a page of 500 long messages fits). */
export const MAX_REPLY_BYTES = 16 * 1024 * 1024;
export const MAX_ID_CHARS = 64;
export const MAX_METHOD_CHARS = 64;
/** `area.verb`, lower case, each part starting with a letter: `chat.send`, `files.list`. */
export const METHOD_PATTERN = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/;

const NEWLINE = 0x0a;
/** Stateless in one-shot use (no `stream: true`), so one instance serves every line of every node. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });
const REQUEST_KEYS = new Set(['id', 'method', 'params']);

export type RequestId = number | string;

export interface ControlRequest {
  id: RequestId;
  method: string;
  params: Record<string, unknown>;
}

export type ControlReply =
  | { kind: 'result'; id: RequestId; result: unknown }
  | { kind: 'error'; id: RequestId | null; code: string; message: string }
  | { kind: 'event'; id: RequestId; event: string; data: unknown };

/** A request that could not be decoded; `id` is set when the line had a readable one, so the error can name it. */
export class BadRequest extends ControlError {
  readonly id: RequestId | null;

  constructor(message: string, id: RequestId | null = null) {
    super(ControlErrorCode.BAD_REQUEST, message);
    this.id = id;
  }
}

/** Writes lines to `socket` so that those written in the same tick leave in one write (pipelined requests and replies). */
export function tickBatchedWriter(socket: Writable): (line: Buffer) => void {
  let corked = false;
  return (line) => {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(() => {
        corked = false;
        socket.uncork();
      });
    }
    socket.write(line);
  };
}

/**
 * Splits a byte stream into lines, holding at most `maxBytes` of an unfinished
 * line: a longer one throws ERR_CONTROL_TOO_LARGE before it is buffered further.
 * A trailing CR is dropped; empty lines are skipped.
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private held = 0;
  private readonly maxBytes: number;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  push(chunk: Buffer): Buffer[] {
    const lines: Buffer[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      if (this.held + nl - start > this.maxBytes) throw this.tooLarge();
      this.parts.push(chunk.subarray(start, nl));
      const line = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
      this.parts = [];
      this.held = 0;
      const end = line.length > 0 && line[line.length - 1] === 0x0d ? line.length - 1 : line.length;
      if (end > 0) lines.push(line.subarray(0, end));
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.held += chunk.length - start;
      if (this.held > this.maxBytes) throw this.tooLarge();
      this.parts.push(chunk.subarray(start));
    }
    return lines;
  }

  private tooLarge(): ControlError {
    return new ControlError(ControlErrorCode.TOO_LARGE, `a line is longer than ${this.maxBytes} bytes`);
  }
}

function parseJsonLine(line: Buffer): unknown {
  let text: string;
  try {
    text = UTF8.decode(line);
  } catch {
    throw new BadRequest('the line is not valid UTF-8');
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new BadRequest('the line is not JSON');
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readId(value: unknown): RequestId | null {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && value.length >= 1 && value.length <= MAX_ID_CHARS) return value;
  return null;
}

/** Decodes one request line; throws {@link BadRequest} (with the id when it was readable). */
export function decodeRequest(line: Buffer): ControlRequest {
  const value = parseJsonLine(line);
  if (!isObject(value)) throw new BadRequest('a request is a JSON object');
  const id = readId(value['id']);
  if (id === null) throw new BadRequest(`"id" must be an integer 0..2^53-1 or a string of 1..${MAX_ID_CHARS} characters`);
  for (const key of Object.keys(value)) if (!REQUEST_KEYS.has(key)) throw new BadRequest(`unknown key "${key.slice(0, MAX_ID_CHARS)}" (a request has id, method, params)`, id);
  const method = value['method'];
  if (typeof method !== 'string' || method.length > MAX_METHOD_CHARS || !METHOD_PATTERN.test(method)) {
    throw new BadRequest('"method" must be a name like "chat.send"', id);
  }
  const params = 'params' in value ? value['params'] : {};
  if (!isObject(params)) throw new BadRequest('"params" must be an object', id);
  return { id, method, params };
}

/** Buffers as hex; everything else as JSON.stringify does it. */
function replacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const raw = this[key];
  return Buffer.isBuffer(raw) || raw instanceof Uint8Array ? Buffer.from(raw).toString('hex') : value;
}

export function encodeRequest(request: ControlRequest): Buffer {
  return Buffer.from(JSON.stringify(request, replacer) + '\n');
}

export function encodeResult(id: RequestId, result: unknown): Buffer {
  return Buffer.from(JSON.stringify({ id, result: result ?? null }, replacer) + '\n');
}

export function encodeEvent(id: RequestId, event: string, data: unknown): Buffer {
  return Buffer.from(JSON.stringify({ id, event, data: data ?? null }, replacer) + '\n');
}

/** A typed error keeps its code; anything else becomes ERR_CONTROL_INTERNAL (message only, never a stack). */
export function encodeError(id: RequestId | null, err: unknown): Buffer {
  const code = err instanceof BitChatError ? err.code : ControlErrorCode.INTERNAL;
  const message = err instanceof Error ? err.message : String(err);
  return Buffer.from(JSON.stringify({ id, error: { code, message } }) + '\n');
}

/** Decodes one reply line (client side); throws ERR_CONTROL_CLOSED on anything malformed. */
export function decodeReply(line: Buffer): ControlReply {
  let value: unknown;
  try {
    value = parseJsonLine(line);
  } catch {
    throw new ControlError(ControlErrorCode.CLOSED, 'the node sent a malformed line');
  }
  const bad = (): never => {
    throw new ControlError(ControlErrorCode.CLOSED, 'the node sent a reply of an unknown shape');
  };
  if (!isObject(value)) return bad();
  const id = value['id'] === null ? null : readId(value['id']);
  if ('result' in value && id !== null) return { kind: 'result', id, result: value['result'] };
  if ('event' in value && id !== null && typeof value['event'] === 'string') return { kind: 'event', id, event: value['event'], data: value['data'] };
  const error = value['error'];
  if (isObject(error) && typeof error['code'] === 'string' && typeof error['message'] === 'string') {
    return { kind: 'error', id, code: error['code'], message: error['message'] };
  }
  return bad();
}
