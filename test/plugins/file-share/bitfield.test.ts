import { expect } from 'chai';
import { Bitfield } from '../../../plugins/file-share/bitfield.js';

describe('file-share bitfield', () => {
  it('sets, counts and round-trips through bytes, MSB first, spare bits cleared', () => {
    const b = new Bitfield(10);
    expect(b.set(0)).to.equal(true);
    expect(b.set(0)).to.equal(false);
    b.set(9);
    expect(b.set(10)).to.equal(false);
    expect(b.bytes.toString('hex')).to.equal('8040');
    expect(b.count).to.equal(2);
    const c = new Bitfield(10, Buffer.from([0xff, 0xff]));
    expect(c.count).to.equal(10);
    expect(c.complete).to.equal(true);
    expect(c.bytes.toString('hex')).to.equal('ffc0');
    expect(Bitfield.full(0).complete).to.equal(true);
  });
});
