/**
 * Cuts a byte stream into records (`u8 type ‖ u16 BE length ‖ body`). Holds at most one
 * partial record plus what one read delivered; the header is validated (type known,
 * length capped) before any body byte is waited for.
 *
 * Nothing is copied on the data path: a record inside one chunk is a view of it, and a
 * record that spans chunks (the usual case for full records: a 64 KiB socket read never
 * lines up with a 65 302-byte record) comes out as its pieces, which the record opener
 * authenticates and decrypts one after the other. Only `next()` (handshake records,
 * tests) joins the pieces into one buffer.
 */
import { RECORD_HEADER_BYTES } from './constants.js';
import { decodeRecordHeader } from './handshake-codec.js';

export interface RawRecord {
  type: number;
  /** The 3 header bytes (they are the GCM associated data and part of the CBC MAC). */
  header: Buffer;
  body: Buffer;
}

/** A record whose body is `parts` in order (views of the received chunks), `length` bytes in all. */
export interface RecordParts {
  type: number;
  header: Buffer;
  parts: Buffer[];
  length: number;
}

export class RecordReader {
  /** Received chunks not yet consumed; `chunks[head]` is the oldest (a moving start, no shift per record). */
  private chunks: Buffer[] = [];
  private head = 0;
  private buffered = 0;

  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next complete record as one buffer, or null when more bytes are needed. Throws ERR_SC_PROTOCOL on a bad header. */
  next(): RawRecord | null {
    const rec = this.nextParts();
    if (!rec) return null;
    const body = rec.parts.length === 1 ? rec.parts[0]! : Buffer.concat(rec.parts, rec.length);
    return { type: rec.type, header: rec.header, body };
  }

  /** The next complete record as views of the received chunks, or null when more bytes are needed. */
  nextParts(): RecordParts | null {
    if (this.buffered < RECORD_HEADER_BYTES) return null;
    const first = this.chunks[this.head]!;
    const header = first.length >= RECORD_HEADER_BYTES ? first.subarray(0, RECORD_HEADER_BYTES) : this.gatherHeader();
    const { type, length } = decodeRecordHeader(header);
    if (this.buffered < RECORD_HEADER_BYTES + length) return null;
    const end = RECORD_HEADER_BYTES + length;
    if (first.length >= end) {
      // The common case for small records: a view of the one chunk that holds it.
      this.buffered -= end;
      if (first.length === end) this.dropHead();
      else this.chunks[this.head] = first.subarray(end);
      return { type, header, parts: [first.subarray(RECORD_HEADER_BYTES, end)], length };
    }
    this.skip(RECORD_HEADER_BYTES);
    return { type, header, parts: this.takeParts(length), length };
  }

  /** The header when it straddles chunks (3 bytes copied). */
  private gatherHeader(): Buffer {
    const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES);
    let off = 0;
    for (let i = this.head; off < RECORD_HEADER_BYTES; i++) {
      const c = this.chunks[i]!;
      off += c.copy(out, off, 0, Math.min(c.length, RECORD_HEADER_BYTES - off));
    }
    return out;
  }

  private skip(n: number): void {
    this.takeParts(n);
  }

  /** Removes n bytes and returns them as views, oldest first. */
  private takeParts(n: number): Buffer[] {
    this.buffered -= n;
    const out: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const c = this.chunks[this.head]!;
      if (c.length <= need) {
        out.push(c);
        need -= c.length;
        this.dropHead();
      } else {
        out.push(c.subarray(0, need));
        this.chunks[this.head] = c.subarray(need);
        need = 0;
      }
    }
    return out;
  }

  private dropHead(): void {
    this.head++;
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head >= 64) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }
}
