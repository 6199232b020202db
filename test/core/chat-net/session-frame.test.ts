import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { MAX_MESSAGE_SIZE } from '../../../core/chat/message-codec.js';
import { decodeSessionFrame, encodeSessionFrame, SessionFrameDecoder, type SessionFrame } from '../../../core/node/session-frame.js';

const FUZZ_CASES = 3000;

describe('session frames (spec §4.2)', () => {
  it('matches the test vector', () => {
    expect(encodeSessionFrame(0, Buffer.from('0268', 'hex')).toString('hex')).to.equal('000002000268');
    expect(encodeSessionFrame(0x0103, Buffer.alloc(0)).toString('hex')).to.equal('03010000');
    expect(decodeSessionFrame(Buffer.from('000002000268', 'hex'))).to.deep.equal({ port: 0, data: Buffer.from('0268', 'hex') });
  });

  it('refuses a message above the cap on port 0, allows it on a stream port', () => {
    expect(() => encodeSessionFrame(0, Buffer.alloc(MAX_MESSAGE_SIZE + 1))).to.throw(/above/);
    expect(encodeSessionFrame(3, Buffer.alloc(MAX_MESSAGE_SIZE + 1)).length).to.equal(MAX_MESSAGE_SIZE + 5);
    const header = Buffer.alloc(4);
    header.writeUInt16LE(MAX_MESSAGE_SIZE + 1, 2);
    expect(() => new SessionFrameDecoder().push(header, () => undefined)).to.throw(/above/);
    expect(() => decodeSessionFrame(Buffer.from('000003000268', 'hex'))).to.throw(/says 3 bytes/);
    expect(() => decodeSessionFrame(Buffer.from('0000', 'hex'))).to.throw(/shorter/);
  });

  it('reassembles frames split at every byte boundary', () => {
    const frames = [encodeSessionFrame(0, Buffer.from('hello')), encodeSessionFrame(2, randomBytes(300)), encodeSessionFrame(0, Buffer.alloc(0))];
    const wire = Buffer.concat(frames);
    for (let cut = 0; cut <= wire.length; cut++) {
      const out: SessionFrame[] = [];
      const d = new SessionFrameDecoder();
      d.push(wire.subarray(0, cut), (f) => out.push(f));
      d.push(wire.subarray(cut), (f) => out.push(f));
      expect(out.map((f) => encodeSessionFrame(f.port, f.data))).to.deep.equal(frames);
      expect(d.buffered).to.equal(0);
    }
  });

  it('reassembles frames cut into many random pieces, holding at most one frame', () => {
    const frames = Array.from({ length: 40 }, (_, i) => encodeSessionFrame(i % 3, randomBytes(Math.floor(Math.random() * 3000))));
    const wire = Buffer.concat(frames);
    for (let round = 0; round < 50; round++) {
      const out: SessionFrame[] = [];
      const d = new SessionFrameDecoder();
      for (let at = 0; at < wire.length; ) {
        const piece = 1 + Math.floor(Math.random() * (round % 2 ? 7 : 5000));
        d.push(wire.subarray(at, at + piece), (f) => out.push(f));
        at += piece;
        expect(d.buffered).to.be.at.most(3000 + 4);
      }
      expect(out.map((f) => encodeSessionFrame(f.port, f.data))).to.deep.equal(frames);
      expect(d.buffered).to.equal(0);
    }
  });

  it('hands stream-port data over as a view of the chunk, messages as copies', () => {
    const chunk = Buffer.concat([encodeSessionFrame(1, randomBytes(1000)), encodeSessionFrame(0, Buffer.from('hi'))]);
    const out: SessionFrame[] = [];
    new SessionFrameDecoder().push(chunk, (f) => out.push(f));
    chunk.fill(0);
    expect(out[0]!.data.every((b) => b === 0)).to.equal(true);
    expect(out[1]!.data.toString()).to.equal('hi');
  });

  it('fuzz: random bytes either decode to frames that re-encode identically or throw a typed error', () => {
    for (let i = 0; i < FUZZ_CASES; i++) {
      const buf = randomBytes(1 + Math.floor(Math.random() * 64));
      if (i % 2 && buf.length >= 4) buf.writeUInt16LE(Math.floor(Math.random() * 40), 2); // often a plausible length
      const d = new SessionFrameDecoder();
      const out: SessionFrame[] = [];
      try {
        d.push(buf, (f) => out.push(f));
      } catch (err) {
        expect((err as { code?: string }).code).to.equal('ERR_NODE_BAD_FRAME');
        continue;
      }
      const consumed = Buffer.concat(out.map((f) => encodeSessionFrame(f.port, f.data)));
      expect(consumed.equals(buf.subarray(0, consumed.length))).to.equal(true);
      expect(d.buffered).to.equal(buf.length - consumed.length);
    }
  });
});
