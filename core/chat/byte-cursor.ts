/**
 * Bounds-checked reading and writing of little-endian fields for the chat codecs.
 * Every read checks the remaining length first and throws ERR_CHAT_TRUNCATED, so a
 * decoder built on it cannot read past its input or allocate from a forged length.
 */
import { ChatError, ERR_CHAT_BAD_FIELD, ERR_CHAT_TOO_LARGE, ERR_CHAT_TRUNCATED } from './errors.js';

const INITIAL_WRITER_BYTES = 256;
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export class ByteReader {
  private pos = 0;

  constructor(private readonly buf: Buffer, private readonly what: string) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number, field: string): void {
    if (n > this.buf.length - this.pos) {
      throw new ChatError(ERR_CHAT_TRUNCATED, `${this.what}: ${field} needs ${n} bytes, ${this.remaining} left`);
    }
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.pos++]!;
  }

  u16(field: string): number {
    this.need(2, field);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(field: string): number {
    this.need(4, field);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  /** i64 LE that must be a non-negative safe integer (dates, clocks). */
  safeI64(field: string): number {
    this.need(8, field);
    const v = this.buf.readBigInt64LE(this.pos);
    this.pos += 8;
    if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new ChatError(ERR_CHAT_BAD_FIELD, `${this.what}: ${field} out of range`);
    }
    return Number(v);
  }

  /** A copy (never a view: the caller may keep it after the frame buffer is reused). */
  bytes(n: number, field: string): Buffer {
    this.need(n, field);
    const out = Buffer.from(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }

  rest(field: string): Buffer {
    return this.bytes(this.remaining, field);
  }

  /** Strict UTF-8 (invalid sequences are an error, not U+FFFD). */
  utf8(n: number, field: string): string {
    this.need(n, field);
    let s: string;
    try {
      s = UTF8.decode(this.buf.subarray(this.pos, this.pos + n));
    } catch {
      throw new ChatError(ERR_CHAT_BAD_FIELD, `${this.what}: ${field} is not valid UTF-8`);
    }
    this.pos += n;
    return s;
  }

  /** Trailing bytes after a fixed layout mean the sender and we disagree on it. */
  end(): void {
    if (this.remaining !== 0) {
      throw new ChatError(ERR_CHAT_BAD_FIELD, `${this.what}: ${this.remaining} unexpected trailing bytes`);
    }
  }
}

export class ByteWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(private readonly max: number, private readonly what: string) {
    this.buf = Buffer.allocUnsafe(Math.min(INITIAL_WRITER_BYTES, max));
  }

  get length(): number {
    return this.pos;
  }

  private room(n: number): void {
    const need = this.pos + n;
    if (need > this.max) {
      throw new ChatError(ERR_CHAT_TOO_LARGE, `${this.what}: ${need} bytes exceed the cap of ${this.max}`);
    }
    if (need > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.max, Math.max(need, this.buf.length * 2)));
      this.buf.copy(grown, 0, 0, this.pos);
      this.buf = grown;
    }
  }

  u8(v: number): this {
    this.room(1);
    this.buf[this.pos++] = v;
    return this;
  }

  u16(v: number): this {
    this.room(2);
    this.buf.writeUInt16LE(v, this.pos);
    this.pos += 2;
    return this;
  }

  u32(v: number): this {
    this.room(4);
    this.buf.writeUInt32LE(v, this.pos);
    this.pos += 4;
    return this;
  }

  i64(v: number): this {
    this.room(8);
    this.buf.writeBigInt64LE(BigInt(v), this.pos);
    this.pos += 8;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  /** Copies the written bytes out, so the result does not pin the growth buffer. */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}
