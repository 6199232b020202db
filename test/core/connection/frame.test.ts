import { expect } from 'chai';
import {
  FRAME_HEADER_LENGTH,
  FrameDecoder,
  MAX_FRAME_DATA,
  Signal,
  decodeFrame,
  encodeFrame,
  type Frame,
} from '../../../core/connection/index.js';

const NAME = Buffer.alloc(20, 0xab);

describe('connection/frame', () => {
  it('encodes the documented test vector', () => {
    const bytes = encodeFrame(Signal.CHANNEL_DATA, NAME, Buffer.from('hi'));
    expect(bytes.toString('hex')).to.equal('02' + 'ab'.repeat(20) + '0200' + '6869');
    const frame = decodeFrame(bytes);
    expect(frame.signal).to.equal(Signal.CHANNEL_DATA);
    expect(frame.name.equals(NAME)).to.equal(true);
    expect(frame.data.toString()).to.equal('hi');
  });

  it('encodes a window update as u32 LE credit', () => {
    const credit = Buffer.alloc(4);
    credit.writeUInt32LE(65536);
    expect(encodeFrame(Signal.WINDOW_UPDATE, NAME, credit).toString('hex')).to.equal('0e' + 'ab'.repeat(20) + '0400' + '00000100');
  });

  it('refuses unknown signals, oversize and mis-sized frames with typed errors', () => {
    const header = (signal: number, length: number): Buffer => {
      const b = Buffer.alloc(FRAME_HEADER_LENGTH);
      b[0] = signal;
      b.writeUInt16LE(length, 21);
      return b;
    };
    const decoder = (): FrameDecoder => new FrameDecoder();
    const codeOf = (buf: Buffer): string => {
      try {
        decoder().push(buf, () => undefined);
      } catch (err) {
        return (err as { code: string }).code;
      }
      return 'none';
    };
    expect(codeOf(header(99, 0))).to.equal('ERR_FRAME_UNKNOWN_SIGNAL');
    expect(codeOf(header(Signal.CHANNEL_DATA, MAX_FRAME_DATA + 1))).to.equal('ERR_FRAME_TOO_LARGE');
    expect(codeOf(header(Signal.CHANNEL_DATA, 0))).to.equal('ERR_FRAME_BAD_LENGTH');
    expect(codeOf(header(Signal.WINDOW_UPDATE, 3))).to.equal('ERR_FRAME_BAD_LENGTH');
    expect(codeOf(header(Signal.NOOP, 1))).to.equal('ERR_FRAME_BAD_LENGTH');
    expect(codeOf(header(Signal.NETWORK_INVITATION, 5))).to.equal('none');
    expect(() => encodeFrame(Signal.CHANNEL_DATA, NAME, Buffer.alloc(MAX_FRAME_DATA + 1, 1))).to.throw().with.property('code', 'ERR_FRAME_TOO_LARGE');
    expect(() => encodeFrame(Signal.NOOP, Buffer.alloc(19))).to.throw().with.property('code', 'ERR_CHANNEL_BAD_NAME');
  });

  it('reads frames from any split of the byte stream; data frames that span chunks come in pieces, uncopied', () => {
    const window = Buffer.alloc(40, 0x0e);
    const frames = [
      encodeFrame(Signal.NOOP, NAME),
      encodeFrame(Signal.CHANNEL_DATA, NAME, Buffer.alloc(MAX_FRAME_DATA, 7)),
      encodeFrame(Signal.CHANNEL_DATA, NAME, Buffer.from('x')),
      encodeFrame(Signal.START_TCP_RELAY, NAME, window),
      encodeFrame(Signal.CHANNEL_END, NAME),
    ];
    const stream = Buffer.concat(frames);
    for (const step of [1, 2, 22, 23, 24, 30, 1000, 32791, stream.length]) {
      const got: Frame[] = [];
      let pending: Buffer[] = [];
      const decoder = new FrameDecoder();
      for (let off = 0; off < stream.length; off += step) {
        const chunk = stream.subarray(off, off + step);
        decoder.push(chunk, (f) => {
          expect(f.name.equals(NAME)).to.equal(true);
          if (f.signal === Signal.CHANNEL_DATA) {
            // A slice of the chunk pushed, never a copy.
            expect(f.data.buffer).to.equal(chunk.buffer);
            pending.push(Buffer.from(f.data));
            if (f.more) return;
          } else {
            expect(f.more).to.equal(undefined);
          }
          got.push({ ...f, data: f.signal === Signal.CHANNEL_DATA ? Buffer.concat(pending) : Buffer.from(f.data) });
          pending = [];
        });
        expect(decoder.bufferedBytes).to.be.at.most(FRAME_HEADER_LENGTH + MAX_FRAME_DATA);
      }
      expect(got.map((f) => f.signal)).to.deep.equal([0, 2, 2, 10, 7]);
      expect(got[1]!.data.equals(Buffer.alloc(MAX_FRAME_DATA, 7))).to.equal(true);
      expect(got[2]!.data.toString()).to.equal('x');
      expect(got[3]!.data.equals(window)).to.equal(true);
      expect(decoder.bufferedBytes).to.equal(0);
    }
  });
});
