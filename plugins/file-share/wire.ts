/**
 * File-share chat messages (spec §4.4 numbering where the meaning is kept) and
 * the block-stream framing. All integers little-endian; `fileId` is 32 bytes.
 *
 * Chat messages (`u8 type ‖ payload`, one message each, <= 65 472 bytes):
 *
 * | type | name      | payload                                                        |
 * | ---- | --------- | -------------------------------------------------------------- |
 * | 10   | ADVERTISE | advertisement (metadata.ts)                                    |
 * | 11   | BITFIELD  | u8 flags (bit 0: reply with yours) ‖ fileId ‖ u32 n ‖ ceil(n/8) bitfield bytes |
 * | 12   | LEAVE     | fileId                                                         |
 * | 14   | HAVE      | fileId ‖ u32 block                                             |
 * | 15   | REQUEST   | fileId ‖ u32 block                                             |
 * | 16   | CANCEL    | fileId ‖ u32 block                                             |
 *
 * 13 (the spec's FileBlockWanted) is retired: bitfields and HAVE replace the
 * ask-everyone-per-block round trip. BITFIELD is the spec's Participate.
 *
 * Block stream (its own stream per peer, never inside chat messages):
 *
 * | off | size | field                                            |
 * | --- | ---- | ------------------------------------------------ |
 * | 0   | 1    | kind: 1 = BLOCK, 2 = REJECT                      |
 * | 1   | 32   | fileId                                           |
 * | 33  | 4    | block index, u32                                 |
 * | 37  | 4    | length n, u32 (BLOCK: 1..maxBlockSize; REJECT: 1)|
 * | 41  | n    | BLOCK: block bytes; REJECT: u8 reason            |
 */
import type { MessageTypeRegistry } from '../../core/types.js';
import { HASH_LENGTH, MAX_BLOCKS, MAX_BLOCK_SIZE, MAX_MESSAGE_SIZE, PLUGIN_NAME } from './constants.js';
import { FILE_SHARE_ERRORS, FileShareError } from './errors.js';

export const MESSAGE_TYPES = {
  ADVERTISE: 10,
  BITFIELD: 11,
  LEAVE: 12,
  HAVE: 14,
  REQUEST: 15,
  CANCEL: 16,
} as const;

export const FRAME_KINDS = { BLOCK: 1, REJECT: 2 } as const;
export const FRAME_HEADER_BYTES = 41;
/** Why a request was refused. */
export const REJECT_REASONS = { NOT_AVAILABLE: 1, PAUSED: 2, BANNED: 3, BUSY: 4 } as const;
/** BITFIELD flag: the receiver should answer with its own bitfield. */
export const BITFIELD_REPLY = 0x01;

export type FileShareMessage =
  | { type: 10; advertisement: Buffer }
  | { type: 11; reply: boolean; fileId: Buffer; blockCount: number; bits: Buffer }
  | { type: 12; fileId: Buffer }
  | { type: 14 | 15 | 16; fileId: Buffer; block: number };

export type BlockFrame =
  | { kind: 1; fileId: Buffer; block: number; data: Buffer }
  | { kind: 2; fileId: Buffer; block: number; reason: number };

const TYPE_NAMES: Readonly<Record<number, string>> = {
  10: 'FileAdvertisement',
  11: 'FileShareBitfield',
  12: 'FileShareLeave',
  14: 'FileBlockHave',
  15: 'FileBlockRequest',
  16: 'FileBlockCancel',
};

/** Adds the plugin's message types to the chat layer's registry. */
export function registerMessageTypes(registry: MessageTypeRegistry): void {
  for (const [type, name] of Object.entries(TYPE_NAMES)) registry.register(Number(type), name, PLUGIN_NAME);
}

export function isFileShareMessage(buf: Buffer): boolean {
  return buf.length > 0 && TYPE_NAMES[buf[0]!] !== undefined;
}

function badMessage(message: string): FileShareError {
  return new FileShareError(FILE_SHARE_ERRORS.BAD_MESSAGE, message);
}

function checkId(fileId: Buffer): void {
  if (fileId.length !== HASH_LENGTH) throw badMessage('file ID must be 32 bytes');
}

function checkBlock(block: number): void {
  if (!Number.isInteger(block) || block < 0 || block >= MAX_BLOCKS) throw badMessage(`block ${block} out of range`);
}

export function encodeMessage(msg: FileShareMessage): Buffer {
  switch (msg.type) {
    case MESSAGE_TYPES.ADVERTISE:
      if (msg.advertisement.length + 1 > MAX_MESSAGE_SIZE) throw badMessage('advertisement exceeds one message');
      return Buffer.concat([Buffer.from([msg.type]), msg.advertisement]);
    case MESSAGE_TYPES.BITFIELD: {
      checkId(msg.fileId);
      if (msg.blockCount < 0 || msg.blockCount > MAX_BLOCKS || msg.bits.length !== Math.ceil(msg.blockCount / 8)) {
        throw badMessage('bitfield length does not match its block count');
      }
      const head = Buffer.alloc(2 + HASH_LENGTH + 4);
      head.writeUInt8(msg.type, 0);
      head.writeUInt8(msg.reply ? BITFIELD_REPLY : 0, 1);
      msg.fileId.copy(head, 2);
      head.writeUInt32LE(msg.blockCount, 2 + HASH_LENGTH);
      return Buffer.concat([head, msg.bits]);
    }
    case MESSAGE_TYPES.LEAVE:
      checkId(msg.fileId);
      return Buffer.concat([Buffer.from([msg.type]), msg.fileId]);
    default: {
      checkId(msg.fileId);
      checkBlock(msg.block);
      const out = Buffer.alloc(1 + HASH_LENGTH + 4);
      out.writeUInt8(msg.type, 0);
      msg.fileId.copy(out, 1);
      out.writeUInt32LE(msg.block, 1 + HASH_LENGTH);
      return out;
    }
  }
}

/** Decodes one file-share chat message; anything malformed is ERR_FILE_SHARE_BAD_MESSAGE. */
export function decodeMessage(buf: Buffer): FileShareMessage {
  if (buf.length < 1) throw badMessage('empty message');
  if (buf.length > MAX_MESSAGE_SIZE) throw badMessage('message exceeds the chat message cap');
  const type = buf[0]!;
  const body = buf.subarray(1);
  switch (type) {
    case MESSAGE_TYPES.ADVERTISE:
      return { type, advertisement: Buffer.from(body) };
    case MESSAGE_TYPES.BITFIELD: {
      if (body.length < 1 + HASH_LENGTH + 4) throw badMessage('bitfield message truncated');
      const flags = body[0]!;
      if ((flags & ~BITFIELD_REPLY) !== 0) throw badMessage('unknown bitfield flags');
      const blockCount = body.readUInt32LE(1 + HASH_LENGTH);
      if (blockCount > MAX_BLOCKS) throw badMessage(`bitfield of ${blockCount} blocks exceeds the cap`);
      const bits = body.subarray(1 + HASH_LENGTH + 4);
      if (bits.length !== Math.ceil(blockCount / 8)) throw badMessage('bitfield length does not match its block count');
      if (blockCount % 8 !== 0 && (bits[bits.length - 1]! & (0xff >> (blockCount % 8))) !== 0) throw badMessage('spare bitfield bits set');
      return { type, reply: (flags & BITFIELD_REPLY) !== 0, fileId: Buffer.from(body.subarray(1, 1 + HASH_LENGTH)), blockCount, bits: Buffer.from(bits) };
    }
    case MESSAGE_TYPES.LEAVE:
      if (body.length !== HASH_LENGTH) throw badMessage('leave message must be one file ID');
      return { type, fileId: Buffer.from(body) };
    case MESSAGE_TYPES.HAVE:
    case MESSAGE_TYPES.REQUEST:
    case MESSAGE_TYPES.CANCEL: {
      if (body.length !== HASH_LENGTH + 4) throw badMessage('block message must be file ID + block index');
      const block = body.readUInt32LE(HASH_LENGTH);
      checkBlock(block);
      return { type, fileId: Buffer.from(body.subarray(0, HASH_LENGTH)), block };
    }
    default:
      throw badMessage(`type ${type} is not a file-share message`);
  }
}

function badFrame(message: string): FileShareError {
  return new FileShareError(FILE_SHARE_ERRORS.BAD_FRAME, message);
}

/**
 * A BLOCK frame with its header filled in and room for `length` data bytes at
 * FRAME_HEADER_BYTES: the sender reads the block straight into it, so the block
 * is never copied to be framed.
 */
export function allocBlockFrame(fileId: Buffer, block: number, length: number): Buffer {
  if (fileId.length !== HASH_LENGTH) throw badFrame('file ID must be 32 bytes');
  if (length < 1 || length > MAX_BLOCK_SIZE) throw badFrame(`block length ${length} out of range`);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  frame.writeUInt8(FRAME_KINDS.BLOCK, 0);
  fileId.copy(frame, 1);
  frame.writeUInt32LE(block, 33);
  frame.writeUInt32LE(length, 37);
  return frame;
}

export function encodeBlockFrame(frame: BlockFrame): Buffer {
  if (frame.kind === FRAME_KINDS.BLOCK) {
    const out = allocBlockFrame(frame.fileId, frame.block, frame.data.length);
    frame.data.copy(out, FRAME_HEADER_BYTES);
    return out;
  }
  if (frame.fileId.length !== HASH_LENGTH) throw badFrame('file ID must be 32 bytes');
  const out = Buffer.alloc(FRAME_HEADER_BYTES + 1);
  out.writeUInt8(FRAME_KINDS.REJECT, 0);
  frame.fileId.copy(out, 1);
  out.writeUInt32LE(frame.block, 33);
  out.writeUInt32LE(1, 37);
  out.writeUInt8(frame.reason, 41);
  return out;
}

/** A frame header, as the decoder's `check` sees it before the frame's data is read. */
export interface BlockFrameHeader {
  kind: number;
  fileId: Buffer;
  block: number;
  length: number;
}

/**
 * Judges a well-formed header before its data is buffered: returns why the frame is
 * refused (the stream is then broken: ERR_FILE_SHARE_BAD_FRAME), or undefined.
 */
export type BlockFrameCheck = (header: BlockFrameHeader) => string | undefined;

/**
 * Incremental decoder of one block stream. `push` takes any chunking of the
 * bytes and returns the frames completed so far; a bad header, or one `check`
 * refuses (a block nobody asked for), throws ERR_FILE_SHARE_BAD_FRAME before any
 * of the announced length is buffered.
 */
export class BlockStreamDecoder {
  readonly #maxBlockSize: number;
  readonly #check: BlockFrameCheck | undefined;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #header: BlockFrameHeader | null = null;

  constructor(maxBlockSize: number = MAX_BLOCK_SIZE, check?: BlockFrameCheck) {
    this.#maxBlockSize = Math.min(maxBlockSize, MAX_BLOCK_SIZE);
    this.#check = check;
  }

  /** Bytes held waiting for the rest of a frame. */
  get buffered(): number {
    return this.#buffered;
  }

  push(chunk: Buffer): BlockFrame[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const out: BlockFrame[] = [];
    for (;;) {
      if (!this.#header) {
        if (this.#buffered < FRAME_HEADER_BYTES) break;
        const head = this.#take(FRAME_HEADER_BYTES);
        const kind = head[0]!;
        const block = head.readUInt32LE(33);
        const length = head.readUInt32LE(37);
        if (kind === FRAME_KINDS.BLOCK) {
          if (length < 1 || length > this.#maxBlockSize) throw badFrame(`block frame of ${length} bytes (max ${this.#maxBlockSize})`);
        } else if (kind === FRAME_KINDS.REJECT) {
          if (length !== 1) throw badFrame('reject frame must carry one reason byte');
        } else {
          throw badFrame(`unknown frame kind ${kind}`);
        }
        if (block >= MAX_BLOCKS) throw badFrame(`block ${block} out of range`);
        const header = { kind, fileId: Buffer.from(head.subarray(1, 33)), block, length };
        const refusal = this.#check?.(header);
        if (refusal !== undefined) throw badFrame(refusal);
        this.#header = header;
      }
      const h = this.#header;
      if (this.#buffered < h.length) break;
      const data = this.#take(h.length);
      this.#header = null;
      if (h.kind === FRAME_KINDS.BLOCK) out.push({ kind: FRAME_KINDS.BLOCK, fileId: h.fileId, block: h.block, data });
      else out.push({ kind: FRAME_KINDS.REJECT, fileId: h.fileId, block: h.block, reason: data[0]! });
    }
    return out;
  }

  #take(n: number): Buffer {
    const first = this.#chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let off = 0;
      while (off < n) {
        const c = this.#chunks[0]!;
        const k = Math.min(c.length, n - off);
        c.copy(out, off, 0, k);
        off += k;
        if (k === c.length) this.#chunks.shift();
        else this.#chunks[0] = c.subarray(k);
      }
    }
    this.#buffered -= n;
    return out;
  }
}
