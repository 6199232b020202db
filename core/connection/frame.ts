/**
 * Frame codec (PROTOCOL.md §1.5, our extensions in docs/protocol/connection.md).
 *
 * | off | size | field                                   |
 * | --- | ---- | --------------------------------------- |
 * | 0   | 1    | signal ({@link Signal})                 |
 * | 1   | 20   | channel name                            |
 * | 21  | 2    | data length `n`, u16 LE (<= 32768)      |
 * | 23  | n    | data                                    |
 *
 * Per-signal data rules: CHANNEL_DATA carries 1..32768 bytes, WINDOW_UPDATE exactly 4
 * (`u32 LE` credit), extension signals 0..32768, every other signal none.
 */
import {
  CHANNEL_NAME_LENGTH,
  EXTENSION_SIGNALS,
  FRAME_HEADER_LENGTH,
  MAX_FRAME_DATA,
  Signal,
} from './constants.js';
import { ConnectionError, ConnectionErrorCode } from './errors.js';

export interface Frame {
  signal: number;
  /** 20 bytes. */
  name: Buffer;
  data: Buffer;
  /**
   * Set on a piece of a CHANNEL_DATA frame that is not its last: {@link FrameDecoder}
   * hands over a data frame that spans stream chunks piece by piece instead of copying
   * it together (its `name` is then only valid during the call).
   */
  more?: boolean;
}

const KNOWN_SIGNALS: ReadonlySet<number> = new Set(Object.values(Signal));
const EMPTY = Buffer.alloc(0);

/** Throws the typed error a reader answers a bad header with. */
function checkHeader(signal: number, length: number): void {
  if (!KNOWN_SIGNALS.has(signal)) {
    throw new ConnectionError(ConnectionErrorCode.FRAME_UNKNOWN_SIGNAL, `unknown frame signal ${signal}`);
  }
  if (length > MAX_FRAME_DATA) {
    throw new ConnectionError(ConnectionErrorCode.FRAME_TOO_LARGE, `frame data of ${length} bytes exceeds ${MAX_FRAME_DATA}`);
  }
  let ok: boolean;
  if (signal === Signal.CHANNEL_DATA) ok = length > 0;
  else if (signal === Signal.WINDOW_UPDATE) ok = length === 4;
  else if (EXTENSION_SIGNALS.has(signal)) ok = true;
  else ok = length === 0;
  if (!ok) {
    throw new ConnectionError(ConnectionErrorCode.FRAME_BAD_LENGTH, `signal ${signal} cannot carry ${length} data bytes`);
  }
}

/** Writes a frame header into `target` at `offset`. */
export function writeFrameHeader(target: Buffer, offset: number, signal: number, name: Buffer, length: number): void {
  target[offset] = signal;
  name.copy(target, offset + 1, 0, CHANNEL_NAME_LENGTH);
  target.writeUInt16LE(length, offset + 1 + CHANNEL_NAME_LENGTH);
}

/** One frame as bytes. Throws on a bad name or a length/signal the reader would refuse. */
export function encodeFrame(signal: number, name: Buffer, data: Buffer = EMPTY): Buffer {
  if (name.length !== CHANNEL_NAME_LENGTH) {
    throw new ConnectionError(ConnectionErrorCode.CHANNEL_BAD_NAME, `channel name must be ${CHANNEL_NAME_LENGTH} bytes`);
  }
  checkHeader(signal, data.length);
  const out = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + data.length);
  writeFrameHeader(out, 0, signal, name, data.length);
  data.copy(out, FRAME_HEADER_LENGTH);
  return out;
}

/** Decodes exactly one frame that fills `buf`. */
export function decodeFrame(buf: Buffer): Frame {
  if (buf.length < FRAME_HEADER_LENGTH) {
    throw new ConnectionError(ConnectionErrorCode.FRAME_BAD_LENGTH, `frame shorter than its ${FRAME_HEADER_LENGTH}-byte header`);
  }
  const signal = buf[0]!;
  const length = buf.readUInt16LE(1 + CHANNEL_NAME_LENGTH);
  checkHeader(signal, length);
  if (buf.length !== FRAME_HEADER_LENGTH + length) {
    throw new ConnectionError(ConnectionErrorCode.FRAME_BAD_LENGTH, `frame says ${length} data bytes, has ${buf.length - FRAME_HEADER_LENGTH}`);
  }
  return {
    signal,
    name: buf.subarray(1, 1 + CHANNEL_NAME_LENGTH),
    data: buf.subarray(FRAME_HEADER_LENGTH),
  };
}

/**
 * Incremental reader: feed it stream chunks, get frames. Between calls it holds at
 * most one partial frame (at most 23 + 32768 bytes, allocated once its header is
 * checked), and throws a {@link ConnectionError} on the first bad header, after which
 * it must be dropped. Frames inside one chunk are slices of it (no copy). A CHANNEL_DATA
 * frame that spans chunks comes out as pieces (slices too, `more` set on all but the
 * last), since its bytes only continue a stream; only other frames are copied together.
 */
export class FrameDecoder {
  private readonly head = Buffer.alloc(FRAME_HEADER_LENGTH);
  private headFill = 0;
  private body: Buffer | null = null;
  private bodyFill = 0;
  /** Data bytes still to come of the CHANNEL_DATA frame in progress (delivered in pieces). */
  private dataLeft = 0;

  /** Bytes held back waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.headFill + this.bodyFill;
  }

  /** Calls `onFrame` for every frame completed by `chunk`, in order. */
  push(chunk: Buffer, onFrame: (frame: Frame) => void): void {
    let off = 0;
    const end = chunk.length;
    if (this.headFill > 0) {
      off = this.resume(chunk, onFrame);
      if (off < 0) return;
    }
    while (end - off >= FRAME_HEADER_LENGTH) {
      const signal = chunk[off]!;
      const length = chunk.readUInt16LE(off + 1 + CHANNEL_NAME_LENGTH);
      checkHeader(signal, length);
      const frameEnd = off + FRAME_HEADER_LENGTH + length;
      if (frameEnd > end) break;
      onFrame({
        signal,
        name: chunk.subarray(off + 1, off + 1 + CHANNEL_NAME_LENGTH),
        data: length === 0 ? EMPTY : chunk.subarray(off + FRAME_HEADER_LENGTH, frameEnd),
      });
      off = frameEnd;
    }
    if (off < end) {
      // A data frame's first piece goes out now; the tail of any other frame is kept in
      // our own buffers so it does not pin the socket's chunk.
      this.headFill = 0;
      this.resume(chunk.subarray(off), onFrame);
    }
  }

  /**
   * Continues the frame in progress with the start of `chunk`; returns how many bytes
   * of it were used, or -1 when all were used and the frame is still incomplete.
   */
  private resume(chunk: Buffer, onFrame: (frame: Frame) => void): number {
    let off = 0;
    if (this.headFill < FRAME_HEADER_LENGTH) {
      const take = Math.min(FRAME_HEADER_LENGTH - this.headFill, chunk.length);
      chunk.copy(this.head, this.headFill, 0, take);
      this.headFill += take;
      off = take;
      if (this.headFill < FRAME_HEADER_LENGTH) return -1;
      const signal = this.head[0]!;
      const length = this.head.readUInt16LE(1 + CHANNEL_NAME_LENGTH);
      checkHeader(signal, length);
      if (signal === Signal.CHANNEL_DATA) {
        this.dataLeft = length;
      } else {
        this.body = length === 0 ? EMPTY : Buffer.allocUnsafe(length);
        this.bodyFill = 0;
      }
    }
    if (this.dataLeft > 0) {
      const take = Math.min(this.dataLeft, chunk.length - off);
      if (take === 0) return -1;
      this.dataLeft -= take;
      const more = this.dataLeft > 0;
      if (!more) this.headFill = 0;
      onFrame({ signal: Signal.CHANNEL_DATA, name: this.head.subarray(1, 1 + CHANNEL_NAME_LENGTH), data: chunk.subarray(off, off + take), ...(more ? { more } : {}) });
      return more ? -1 : off + take;
    }
    const body = this.body!;
    const take = Math.min(body.length - this.bodyFill, chunk.length - off);
    chunk.copy(body, this.bodyFill, off, off + take);
    this.bodyFill += take;
    off += take;
    if (this.bodyFill < body.length) return -1;
    const frame = { signal: this.head[0]!, name: Buffer.from(this.head.subarray(1, 1 + CHANNEL_NAME_LENGTH)), data: body };
    this.headFill = 0;
    this.bodyFill = 0;
    this.body = null;
    onFrame(frame);
    return off;
  }
}
