import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { ChatError } from '../../../core/chat/errors.js';
import { openBody, SEALED_OVERHEAD, sealBody } from '../../../core/chat/sealed-body.js';

describe('chat/sealed-body', () => {
  const key = randomBytes(32);
  const net = randomBytes(20);
  const id = randomBytes(16);

  it('round-trips and binds network ID, message ID and type', () => {
    const s = sealBody(key, net, id, 2, Buffer.from('hello'));
    expect(s.length).to.equal(5 + SEALED_OVERHEAD);
    expect(openBody(key, net, id, 2, s).toString()).to.equal('hello');
    expect(() => openBody(key, net, id, 3, s)).to.throw(ChatError);
    expect(() => openBody(key, randomBytes(20), id, 2, s)).to.throw(ChatError);
    expect(() => openBody(key, net, randomBytes(16), 2, s)).to.throw(ChatError);
  });

  it('tamper: every truncation, bit flip and random body is rejected with ChatError (bounded)', () => {
    const s = sealBody(key, net, id, 2, Buffer.from('a message of some length'));
    let rejected = 0;
    const attempt = (b: Buffer): void => {
      try {
        openBody(key, net, id, 2, b);
      } catch (e) {
        if (!(e instanceof ChatError)) throw e;
        rejected++;
      }
    };
    for (let n = 0; n < s.length; n++) attempt(s.subarray(0, n));
    for (let i = 0; i < s.length * 8; i++) {
      const t = Buffer.from(s);
      t[i >> 3]! ^= 1 << (i & 7);
      attempt(t);
    }
    for (let i = 0; i < 1000; i++) attempt(randomBytes(i % 80));
    expect(rejected).to.equal(s.length + s.length * 8 + 1000);
  });
});
