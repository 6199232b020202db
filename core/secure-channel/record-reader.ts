/**
 * Cuts a byte stream into records (`u8 type ‖ u16 BE length ‖ body`). Holds at most one
 * partial record plus what one read delivered; the header is validated (type known,
 * length capped) before any body byte is waited for.
 */
import { RECORD_HEADER_BYTES } from './constants.js';
import { decodeRecordHeader } from './handshake-codec.js';

export interface RawRecord {
  type: number;
  /** The 3 header bytes (they are the GCM associated data and part of the CBC MAC). */
  header: Buffer;
  body: Buffer;
}

export class RecordReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next complete record, or null when more bytes are needed. Throws ERR_SC_PROTOCOL on a bad header. */
  next(): RawRecord | null {
    if (this.buffered < RECORD_HEADER_BYTES) return null;
    const header = this.peek(RECORD_HEADER_BYTES);
    const { type, length } = decodeRecordHeader(header);
    if (this.buffered < RECORD_HEADER_BYTES + length) return null;
    const whole = this.take(RECORD_HEADER_BYTES + length);
    return { type, header: whole.subarray(0, RECORD_HEADER_BYTES), body: whole.subarray(RECORD_HEADER_BYTES) };
  }

  private peek(n: number): Buffer {
    const head = this.chunks[0]!;
    if (head.length >= n) return head.subarray(0, n);
    return Buffer.concat(this.chunks, Math.min(this.buffered, 64)).subarray(0, n);
  }

  /** Removes n bytes; zero-copy when they lie in the first chunk. */
  private take(n: number): Buffer {
    this.buffered -= n;
    const head = this.chunks[0]!;
    if (head.length > n) {
      this.chunks[0] = head.subarray(n);
      return head.subarray(0, n);
    }
    if (head.length === n) {
      this.chunks.shift();
      return head;
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0]!;
      const want = n - off;
      if (c.length <= want) {
        c.copy(out, off);
        off += c.length;
        this.chunks.shift();
      } else {
        c.copy(out, off, 0, want);
        this.chunks[0] = c.subarray(want);
        off += want;
      }
    }
    return out;
  }
}
