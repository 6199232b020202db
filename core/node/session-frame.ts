/**
 * Session multiplexing inside a secure channel's byte stream (spec §4.2):
 *
 * | off | size | field |
 * | --- | --- | --- |
 * | 0 | 2 | port, u16 LE (0 = one chat message) |
 * | 2 | 2 | length n, u16 LE |
 * | 4 | n | data |
 *
 * Port 0 carries one message of at most MAX_MESSAGE_SIZE (65 472) bytes; a longer
 * length on port 0 is a protocol error. Other ports are data streams (file sharing);
 * they are passed through to whoever handles them. Pure codec plus an incremental
 * decoder that never buffers more than one frame.
 */
import { MAX_MESSAGE_SIZE } from '../chat/message-codec.js';
import { ERR_NODE_BAD_FRAME, NodeError } from './errors.js';

export const SESSION_FRAME_HEADER = 4;
export const MESSAGE_PORT = 0;
export const MAX_FRAME_DATA = 0xffff;

export interface SessionFrame {
  port: number;
  data: Buffer;
}

export function encodeSessionFrame(port: number, data: Buffer): Buffer {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new NodeError(ERR_NODE_BAD_FRAME, `port ${port} out of range`);
  const cap = port === MESSAGE_PORT ? MAX_MESSAGE_SIZE : MAX_FRAME_DATA;
  if (data.length > cap) throw new NodeError(ERR_NODE_BAD_FRAME, `frame of ${data.length} bytes above ${cap} on port ${port}`);
  const header = Buffer.allocUnsafe(SESSION_FRAME_HEADER);
  header.writeUInt16LE(port, 0);
  header.writeUInt16LE(data.length, 2);
  return Buffer.concat([header, data]);
}

/** Decodes exactly one frame; throws when `buf` is not one whole frame. */
export function decodeSessionFrame(buf: Buffer): SessionFrame {
  if (buf.length < SESSION_FRAME_HEADER) throw new NodeError(ERR_NODE_BAD_FRAME, 'frame shorter than its header');
  const port = buf.readUInt16LE(0);
  const length = buf.readUInt16LE(2);
  if (port === MESSAGE_PORT && length > MAX_MESSAGE_SIZE) throw new NodeError(ERR_NODE_BAD_FRAME, `message of ${length} bytes above ${MAX_MESSAGE_SIZE}`);
  if (buf.length !== SESSION_FRAME_HEADER + length) throw new NodeError(ERR_NODE_BAD_FRAME, `frame says ${length} bytes, has ${buf.length - SESSION_FRAME_HEADER}`);
  return { port, data: Buffer.from(buf.subarray(SESSION_FRAME_HEADER)) };
}

/**
 * Incremental decoder: push stream chunks, get whole frames. A frame inside one chunk is
 * handed over as a view of it (stream ports: no copy; messages on port 0 are copied so a
 * kept message does not pin a whole record); a frame that spans chunks is joined once,
 * when its last byte arrives, never re-joined per chunk.
 */
export class SessionFrameDecoder {
  /** The start of one incomplete frame; when it holds 4+ bytes, the first piece holds the whole header. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  /** Calls `onFrame` for every complete frame; throws on a malformed header. */
  push(chunk: Buffer, onFrame: (frame: SessionFrame) => void): void {
    let rest = chunk;
    if (this.pendingBytes > 0) {
      if (this.pendingBytes < SESSION_FRAME_HEADER) {
        // At most 3 bytes held: join them with the start of the chunk into one header piece.
        const take = Math.min(SESSION_FRAME_HEADER - this.pendingBytes, rest.length);
        this.pending = [Buffer.concat([...this.pending, rest.subarray(0, take)])];
        this.pendingBytes += take;
        rest = rest.subarray(take);
        if (this.pendingBytes < SESSION_FRAME_HEADER) return;
      }
      const { port, length } = readHeader(this.pending[0]!, 0);
      const missing = SESSION_FRAME_HEADER + length - this.pendingBytes;
      if (rest.length < missing) {
        this.pending.push(rest);
        this.pendingBytes += rest.length;
        return;
      }
      const whole = Buffer.concat([...this.pending, rest.subarray(0, missing)]);
      this.pending = [];
      this.pendingBytes = 0;
      rest = rest.subarray(missing);
      onFrame({ port, data: whole.subarray(SESSION_FRAME_HEADER) });
    }
    let offset = 0;
    while (rest.length - offset >= SESSION_FRAME_HEADER) {
      const { port, length } = readHeader(rest, offset);
      if (rest.length - offset < SESSION_FRAME_HEADER + length) break;
      const start = offset + SESSION_FRAME_HEADER;
      offset = start + length;
      const data = rest.subarray(start, offset);
      onFrame({ port, data: port === MESSAGE_PORT ? Buffer.from(data) : data });
    }
    if (offset < rest.length) {
      this.pending = [rest.subarray(offset)];
      this.pendingBytes = rest.length - offset;
    }
  }

  /** Bytes of an incomplete frame held (at most one frame). */
  get buffered(): number {
    return this.pendingBytes;
  }
}

/** Port and length at `offset`; a message longer than the cap is refused as soon as its header is seen. */
function readHeader(buf: Buffer, offset: number): { port: number; length: number } {
  const port = buf.readUInt16LE(offset);
  const length = buf.readUInt16LE(offset + 2);
  if (port === MESSAGE_PORT && length > MAX_MESSAGE_SIZE) throw new NodeError(ERR_NODE_BAD_FRAME, `message of ${length} bytes above ${MAX_MESSAGE_SIZE}`);
  return { port, length };
}
