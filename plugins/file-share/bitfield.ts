/** Which blocks of a file a node has: bit i is byte i>>3, most significant bit first (as BitTorrent). */
export class Bitfield {
  readonly size: number;
  readonly bytes: Buffer;
  #count = 0;

  constructor(size: number, bytes?: Buffer) {
    this.size = size;
    this.bytes = Buffer.alloc(Math.ceil(size / 8));
    if (bytes) {
      bytes.copy(this.bytes, 0, 0, this.bytes.length);
      // Spare bits past `size` are never set, so counts and equality stay exact.
      if (size % 8 !== 0 && this.bytes.length > 0) this.bytes[this.bytes.length - 1]! &= (0xff << (8 - (size % 8))) & 0xff;
      for (let i = 0; i < size; i++) if (this.has(i)) this.#count++;
    }
  }

  static full(size: number): Bitfield {
    const b = new Bitfield(size);
    for (let i = 0; i < size; i++) b.set(i);
    return b;
  }

  has(index: number): boolean {
    return index >= 0 && index < this.size && (this.bytes[index >> 3]! & (0x80 >> (index & 7))) !== 0;
  }

  /** Sets bit `index`; returns false when it was set already. */
  set(index: number): boolean {
    if (index < 0 || index >= this.size || this.has(index)) return false;
    this.bytes[index >> 3]! |= 0x80 >> (index & 7);
    this.#count++;
    return true;
  }

  /** Clears bit `index`; returns false when it was clear already. */
  clear(index: number): boolean {
    if (!this.has(index)) return false;
    this.bytes[index >> 3]! &= ~(0x80 >> (index & 7)) & 0xff;
    this.#count--;
    return true;
  }

  get count(): number {
    return this.#count;
  }

  get complete(): boolean {
    return this.#count === this.size;
  }
}
