import { expect } from 'chai';
import {
  channelName,
  deriveGroupKeys,
  derivePrivateKeys,
  derivePrivateKeysFromSalt,
  hashedEmail,
  maskedEmail,
  normaliseEmail,
  privateChatSalt,
} from '../../../core/chat/network-id.js';
import { hasCode } from '../../../core/errors.js';
import { ERR_CHAT_BAD_INPUT } from '../../../core/chat/errors.js';

const hex = (b: Buffer): string => b.toString('hex');

describe('chat/network-id (spec §2.9 test vectors)', () => {
  it('group "test group" without secret: network ID and network secret', async () => {
    const k = await deriveGroupKeys('test group');
    expect(hex(k.networkId)).to.equal('92bc035be95af81ff77aef28b893d47adc4c051d');
    expect(hex(k.networkSecret)).to.equal('5c464c88403f6d9d01620714a49b61d0f518f353');
  });

  it('group "test group" with secret "s3cret": network ID', async () => {
    const k = await deriveGroupKeys('test group', 's3cret');
    expect(hex(k.networkId)).to.equal('5fd5a49b06f86493d525587975dcd8e33ac98f84');
    expect(hex(k.networkSecret)).to.not.equal('5c464c88403f6d9d01620714a49b61d0f518f353');
  });

  it('group names are case-insensitive (lower-cased before use)', async () => {
    const k = await deriveGroupKeys('Test GROUP');
    expect(hex(k.networkId)).to.equal('92bc035be95af81ff77aef28b893d47adc4c051d');
  });

  it('HashedEmail and MaskedEmail of alice@example.com', async () => {
    expect(hex(await hashedEmail('alice@example.com'))).to.equal('bd9ababbb463db864842d7f938804b25305cbb6b');
    expect(hex(await maskedEmail('Alice@Example.com'))).to.equal('c7fc5f323a2876e70e7ee61dcae26d7adc7a3631');
  });

  it('private alice/bob without secret: network ID and secret, symmetric in the order', async () => {
    const ab = await derivePrivateKeys('alice@example.com', 'bob@example.com');
    const ba = await derivePrivateKeys('bob@example.com', 'ALICE@example.com');
    expect(hex(ab.networkId)).to.equal('d32a2d714390d618382db7f90af4296713caffff');
    expect(hex(ab.networkSecret)).to.equal('43b26b8c744de44a8480b9b2988021471108ce88');
    expect(ba.networkId.equals(ab.networkId)).to.equal(true);
    expect(ba.networkSecret.equals(ab.networkSecret)).to.equal(true);
  });

  it('the invitation path (salt only) gives the same keys as the e-mail path', async () => {
    const salt = await privateChatSalt('alice@example.com', 'bob@example.com');
    const k = await derivePrivateKeysFromSalt(salt, 'x');
    const k2 = await derivePrivateKeys('alice@example.com', 'bob@example.com', 'x');
    expect(k.networkId.equals(k2.networkId)).to.equal(true);
    expect(hex(k.networkId)).to.not.equal('d32a2d714390d618382db7f90af4296713caffff');
  });

  it('channel name for network "test group" and peer IDs 00..13 / FF*20, equal from both ends', async () => {
    const { networkId } = await deriveGroupKeys('test group');
    const a = Buffer.from(Array.from({ length: 20 }, (_, i) => i));
    const b = Buffer.alloc(20, 0xff);
    expect(hex(channelName(networkId, a, b))).to.equal('570992cefb6a93fdcef5d6ad99492464adc196df');
    expect(channelName(networkId, b, a).equals(channelName(networkId, a, b))).to.equal(true);
  });

  it('rejects malformed inputs with ERR_CHAT_BAD_INPUT', async () => {
    for (const bad of ['', 'no-at', '@host', 'user@', 'a@b@c', `${'x'.repeat(300)}@h`]) {
      expect(() => normaliseEmail(bad), bad).to.throw().that.satisfies((e: unknown) => hasCode(e, ERR_CHAT_BAD_INPUT));
    }
    let err: unknown;
    try { await deriveGroupKeys(''); } catch (e) { err = e; }
    expect(hasCode(err, ERR_CHAT_BAD_INPUT)).to.equal(true);
    expect(() => channelName(Buffer.alloc(19), Buffer.alloc(20), Buffer.alloc(20))).to.throw();
    expect(() => channelName(Buffer.alloc(20), Buffer.alloc(20), Buffer.alloc(21))).to.throw();
  });
});
