import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { FileShareError } from '../../../plugins/file-share/errors.js';
import { Bitfield } from '../../../plugins/file-share/bitfield.js';
import {
  BlockStreamDecoder, FRAME_KINDS, MESSAGE_TYPES, decodeMessage, encodeBlockFrame, encodeMessage, registerMessageTypes,
  type BlockFrame, type FileShareMessage,
} from '../../../plugins/file-share/wire.js';

const ID = Buffer.alloc(32, 0xab);

function typedOnly(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(FileShareError);
  }
}

describe('file-share wire codecs', () => {
  it('round-trips every message type', () => {
    const bits = new Bitfield(13);
    bits.set(0); bits.set(12);
    const msgs: FileShareMessage[] = [
      { type: 10, advertisement: randomBytes(100) },
      { type: 11, reply: true, fileId: ID, blockCount: 13, bits: bits.bytes },
      { type: 11, reply: false, fileId: ID, blockCount: 0, bits: Buffer.alloc(0) },
      { type: 12, fileId: ID },
      { type: 14, fileId: ID, block: 7 },
      { type: 15, fileId: ID, block: 1983 },
      { type: 16, fileId: ID, block: 0 },
    ];
    for (const m of msgs) expect(decodeMessage(encodeMessage(m))).to.deep.equal(m);
    expect(encodeMessage({ type: 14, fileId: ID, block: 7 }).toString('hex')).to.equal('0e' + 'ab'.repeat(32) + '07000000');
  });

  it('matches the documented block-stream vectors', () => {
    expect(encodeBlockFrame({ kind: 1, fileId: ID, block: 7, data: Buffer.from('hi') }).toString('hex'))
      .to.equal('01' + 'ab'.repeat(32) + '07000000' + '02000000' + '6869');
    expect(encodeBlockFrame({ kind: 2, fileId: ID, block: 7, reason: 1 }).toString('hex'))
      .to.equal('02' + 'ab'.repeat(32) + '07000000' + '01000000' + '01');
    expect(encodeMessage({ type: 11, reply: true, fileId: ID, blockCount: 10, bits: Buffer.from([0x80, 0x40]) }).toString('hex'))
      .to.equal('0b01' + 'ab'.repeat(32) + '0a000000' + '8040');
  });

  it('registers its types through a MessageTypeRegistry', () => {
    const seen: Array<[number, string, string]> = [];
    registerMessageTypes({ register: (t, n, o) => seen.push([t, n, o]) });
    expect(seen.map((s) => s[0])).to.deep.equal([10, 11, 12, 14, 15, 16]);
    expect(seen.every((s) => s[2] === 'file-share')).to.equal(true);
  });

  it('refuses malformed messages with typed errors', () => {
    const bad = [
      Buffer.alloc(0), Buffer.from([13]), Buffer.from([99]),
      Buffer.concat([Buffer.from([14]), ID]),
      Buffer.concat([Buffer.from([15]), ID, Buffer.from([0xff, 0xff, 0xff, 0xff])]),
      Buffer.concat([Buffer.from([11, 0]), ID, Buffer.from([9, 0, 0, 0]), Buffer.from([0xff, 0xff])]),
      Buffer.concat([Buffer.from([11, 4]), ID, Buffer.from([1, 0, 0, 0]), Buffer.from([0x80])]),
      Buffer.concat([Buffer.from([11, 0]), ID, Buffer.from([0xff, 0xff, 0xff, 0x7f])]),
      Buffer.concat([Buffer.from([12]), ID, Buffer.from([0])]),
    ];
    for (const b of bad) expect(() => decodeMessage(b), b.toString('hex')).to.throw(FileShareError).with.property('code', 'ERR_FILE_SHARE_BAD_MESSAGE');
  });

  it('survives random and mutated messages (fuzz)', () => {
    const seeds = [encodeMessage({ type: 11, reply: true, fileId: ID, blockCount: 20, bits: Buffer.alloc(3) }), encodeMessage({ type: 15, fileId: ID, block: 3 })];
    for (let i = 0; i < 4000; i++) {
      typedOnly(() => decodeMessage(randomBytes(i % 80)));
      const t = Buffer.from(seeds[i % 2]!);
      t[i % t.length] ^= 1 << (i % 8);
      typedOnly(() => decodeMessage(t.subarray(0, t.length - (i % 3))));
    }
  });

  it('decodes block frames across any chunking', () => {
    const frames: BlockFrame[] = [
      { kind: 1, fileId: ID, block: 0, data: randomBytes(70_000) },
      { kind: 2, fileId: ID, block: 5, reason: 2 },
      { kind: 1, fileId: randomBytes(32), block: 1983, data: randomBytes(1) },
    ];
    const stream = Buffer.concat(frames.map(encodeBlockFrame));
    for (let trial = 0; trial < 50; trial++) {
      const dec = new BlockStreamDecoder(1 << 20);
      const got: BlockFrame[] = [];
      let off = 0;
      while (off < stream.length) {
        const n = 1 + ((trial * 7919 + off) % (trial < 10 ? 50 : 20_000));
        got.push(...dec.push(stream.subarray(off, off + n)));
        off += n;
      }
      expect(got).to.deep.equal(frames);
      expect(dec.buffered).to.equal(0);
    }
  });

  it('refuses oversized, unknown and garbled frames before allocating (fuzz)', () => {
    const head = encodeBlockFrame({ kind: 1, fileId: ID, block: 1, data: Buffer.alloc(10) });
    const huge = Buffer.from(head.subarray(0, 41));
    huge.writeUInt32LE(0xffffffff, 37);
    expect(() => new BlockStreamDecoder(1 << 16).push(huge)).to.throw(FileShareError).with.property('code', 'ERR_FILE_SHARE_BAD_FRAME');
    const kind = Buffer.from(head);
    kind[0] = 3;
    expect(() => new BlockStreamDecoder().push(kind)).to.throw(FileShareError);
    for (let i = 0; i < 3000; i++) {
      const dec = new BlockStreamDecoder(1 << 16);
      typedOnly(() => dec.push(randomBytes(i % 200)));
      const t = Buffer.from(head);
      t[i % 41] ^= 1 << (i % 8);
      typedOnly(() => new BlockStreamDecoder(1 << 16).push(t));
    }
    expect(FRAME_KINDS.BLOCK).to.equal(1);
    expect(MESSAGE_TYPES.REQUEST).to.equal(15);
  });

  it('lets the owner refuse a frame from its header, before any of its data is buffered', () => {
    // A 64 MiB block announced by a header alone: a refused one costs 41 bytes, not 64 MiB.
    const head = encodeBlockFrame({ kind: 1, fileId: ID, block: 7, data: Buffer.alloc(1) }).subarray(0, 41);
    head.writeUInt32LE(64 * 1024 * 1024, 37);
    const seen: number[] = [];
    const refusing = new BlockStreamDecoder(undefined, (h) => {
      seen.push(h.block);
      return h.block === 7 ? 'block 7 was not asked for' : undefined;
    });
    expect(() => refusing.push(head)).to.throw(FileShareError).with.property('code', 'ERR_FILE_SHARE_BAD_FRAME');
    expect(seen).to.deep.equal([7]);
    // An accepted header is judged once, then its data is read as usual.
    const ok = encodeBlockFrame({ kind: 1, fileId: ID, block: 8, data: Buffer.from('data') });
    const accepting = new BlockStreamDecoder(undefined, (h) => (seen.push(h.block), undefined));
    expect(accepting.push(ok.subarray(0, 43))).to.deep.equal([]);
    const frames = accepting.push(ok.subarray(43));
    expect(frames).to.have.length(1);
    expect(seen).to.deep.equal([7, 8]);
  });
});
