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

/** Incremental decoder: push stream chunks, get whole frames. */
export class SessionFrameDecoder {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  /** Calls `onFrame` for every complete frame; throws on a malformed header. */
  push(chunk: Buffer, onFrame: (frame: SessionFrame) => void): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    let buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    let offset = 0;
    for (;;) {
      if (buf.length - offset < SESSION_FRAME_HEADER) break;
      const port = buf.readUInt16LE(offset);
      const length = buf.readUInt16LE(offset + 2);
      if (port === MESSAGE_PORT && length > MAX_MESSAGE_SIZE) throw new NodeError(ERR_NODE_BAD_FRAME, `message of ${length} bytes above ${MAX_MESSAGE_SIZE}`);
      if (buf.length - offset < SESSION_FRAME_HEADER + length) break;
      const start = offset + SESSION_FRAME_HEADER;
      offset = start + length;
      onFrame({ port, data: Buffer.from(buf.subarray(start, offset)) });
    }
    buf = buf.subarray(offset);
    this.pending = buf.length ? [buf] : [];
    this.pendingBytes = buf.length;
  }

  /** Bytes of an incomplete frame held (at most one frame). */
  get buffered(): number {
    return this.pendingBytes;
  }
}
