import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { ChatError, ERR_CHAT_TOO_LARGE, ERR_CHAT_TYPE_TAKEN } from '../../../core/chat/errors.js';
import {
  type ChatMessage,
  decodeMessage,
  encodeMessage,
  encodePeerExchange,
  MAX_DELIVERY_IDS,
  MAX_MESSAGE_SIZE,
  MAX_TEXT_BYTES,
  type PeerInfo,
} from '../../../core/chat/message-codec.js';
import { ChatMessageTypes } from '../../../core/chat/message-types.js';
import { hasCode } from '../../../core/errors.js';

const id = (n: number): Buffer => Buffer.alloc(16, n);

const SAMPLES: ChatMessage[] = [
  { kind: 'noop' },
  { kind: 'typing' },
  {
    kind: 'peer-exchange', seq: 7, part: 0, parts: 1,
    peers: [
      { identity: 'alice@example.com', endpoints: [{ host: '127.0.0.1', port: 4000 }, { host: '2001:db8::1', port: 65535 }] },
      { identity: 'bob@example.com', endpoints: [] },
    ],
  },
  { kind: 'text', id: id(1), hlc: { wallMs: 1_700_000_000_000, counter: 3 }, text: 'héllo, wörld 👋' },
  { kind: 'text', id: id(2), hlc: { wallMs: 0, counter: 0 }, text: '' },
  { kind: 'delivery', ids: [id(1), id(2)] },
  { kind: 'profile-image', dateModified: 123456789, image: Buffer.from([0xff, 0xd8, 0xff]) },
  { kind: 'group-image', dateModified: 5, image: Buffer.alloc(0) },
  { kind: 'history-request', requestId: 42, mode: 'inventory', since: { wallMs: 99, counter: 1 }, limit: 500 },
  { kind: 'history-request', requestId: 43, mode: 'fetch', ids: [id(3), id(4), id(5)] },
  { kind: 'history-inventory', requestId: 42, more: true, entries: [{ id: id(3), hlc: { wallMs: 100, counter: 0 } }] },
  { kind: 'history-messages', requestId: 43, more: false, messages: [{ id: id(3), hlc: { wallMs: 100, counter: 0 }, sender: 'carol@example.com', text: 'missed you' }] },
];

describe('chat/message-codec', () => {
  it('round-trips every core message kind', () => {
    for (const m of SAMPLES) expect(decodeMessage(encodeMessage(m)), m.kind).to.deep.equal(m);
  });

  it('lays out a Text message as type ‖ ID ‖ i64 wall ‖ u16 counter ‖ UTF-8 (test vector)', () => {
    const bytes = encodeMessage({ kind: 'text', id: Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'), hlc: { wallMs: 0x0102030405, counter: 0x0a0b }, text: 'hi' });
    expect(bytes.toString('hex')).to.equal('02' + '000102030405060708090a0b0c0d0e0f' + '0504030201000000' + '0b0a' + '6869');
  });

  it('lays out a PeerExchange as documented (test vector)', () => {
    const [bytes] = encodePeerExchange([{ identity: 'a@b', endpoints: [{ host: '127.0.0.1', port: 0x1234 }, { host: '::1', port: 1 }] }], 1);
    expect(bytes!.toString('hex')).to.equal(
      '01' + '01000000' + '0000' + '0100' + '0100' + '03' + '614062' + '02' + '017f000001' + '3412' + '02' + '00000000000000000000000000000001' + '0100',
    );
  });

  it('writes IPv4-mapped IPv6 end points as IPv4', () => {
    const m = decodeMessage(encodeMessage({ kind: 'peer-exchange', seq: 0, part: 0, parts: 1, peers: [{ identity: 'x@y', endpoints: [{ host: '::ffff:10.0.0.1', port: 5 }, { host: 'fe80::1:0:0:2%eth0', port: 6 }] }] }));
    expect(m.kind === 'peer-exchange' && m.peers[0]!.endpoints).to.deep.equal([{ host: '10.0.0.1', port: 5 }, { host: 'fe80::1:0:0:2', port: 6 }]);
  });

  it('unknown types decode as unknown; registered plugin types as plugin with the raw payload', () => {
    const reg = new ChatMessageTypes();
    expect(decodeMessage(Buffer.from([10, 1, 2]), reg)).to.deep.equal({ kind: 'unknown', type: 10 });
    reg.register(10, 'file-advertisement', 'file-share');
    reg.register(10, 'file-advertisement', 'file-share'); // idempotent
    expect(decodeMessage(Buffer.from([10, 1, 2]), reg)).to.deep.equal({ kind: 'plugin', type: 10, name: 'file-advertisement', owner: 'file-share', payload: Buffer.from([1, 2]) });
    expect(decodeMessage(encodeMessage({ kind: 'plugin', type: 200, name: 'x', owner: 'y', payload: Buffer.from('z') }))).to.deep.equal({ kind: 'unknown', type: 200 });
    expect(() => reg.register(10, 'other', 'bot')).to.throw().that.satisfies((e: unknown) => hasCode(e, ERR_CHAT_TYPE_TAKEN));
    expect(() => reg.register(2, 'text2', 'bot')).to.throw().that.satisfies((e: unknown) => hasCode(e, ERR_CHAT_TYPE_TAKEN));
    expect(() => reg.register(256, 'big', 'bot')).to.throw(ChatError);
  });

  it('splits 3000 members into parts with explicit caps (no u8 overflow at 255+)', () => {
    const peers: PeerInfo[] = Array.from({ length: 3000 }, (_, i) => ({ identity: `member-${i}@example.com`, endpoints: [{ host: `10.0.${i >> 8}.${i & 255}`, port: 4000 + (i % 100) }] }));
    const parts = encodePeerExchange(peers, 9);
    expect(parts.length).to.be.greaterThan(1);
    const back: PeerInfo[] = [];
    for (const p of parts) {
      expect(p.length).to.be.at.most(MAX_MESSAGE_SIZE);
      const m = decodeMessage(p);
      if (m.kind !== 'peer-exchange') throw new Error('kind');
      expect(m.seq).to.equal(9);
      expect(m.parts).to.equal(parts.length);
      back.push(...m.peers);
    }
    expect(back).to.deep.equal(peers);
    const one = decodeMessage(parts[0]!);
    expect(one.kind === 'peer-exchange' && one.peers.length).to.be.greaterThan(255);
  });

  it('refuses to encode past the caps', () => {
    const tooBig = (f: () => unknown): void => { expect(f).to.throw().that.satisfies((e: unknown) => hasCode(e, ERR_CHAT_TOO_LARGE)); };
    tooBig(() => encodeMessage({ kind: 'text', id: id(1), hlc: { wallMs: 1, counter: 0 }, text: 'x'.repeat(MAX_TEXT_BYTES + 1) }));
    expect(encodeMessage({ kind: 'text', id: id(1), hlc: { wallMs: 1, counter: 0 }, text: 'x'.repeat(MAX_TEXT_BYTES) }).length).to.equal(MAX_MESSAGE_SIZE);
    tooBig(() => encodeMessage({ kind: 'delivery', ids: Array.from({ length: MAX_DELIVERY_IDS + 1 }, () => id(0)) }));
    tooBig(() => encodeMessage({ kind: 'profile-image', dateModified: 1, image: Buffer.alloc(MAX_MESSAGE_SIZE) }));
    tooBig(() => encodeMessage({ kind: 'peer-exchange', seq: 0, part: 0, parts: 1, peers: [{ identity: 'a@b', endpoints: Array.from({ length: 17 }, () => ({ host: '1.2.3.4', port: 1 })) }] }));
    tooBig(() => decodeMessage(Buffer.alloc(MAX_MESSAGE_SIZE + 1)));
  });

  it('fuzz: truncated, bit-flipped and random inputs only ever throw ChatError (bounded)', () => {
    const encoded = SAMPLES.map((m) => encodeMessage(m));
    const reg = new ChatMessageTypes();
    reg.register(11, 'p', 'plug');
    let decoded = 0;
    let rejected = 0;
    const attempt = (b: Buffer): void => {
      try {
        decodeMessage(b, reg);
        decoded++;
      } catch (e) {
        if (!(e instanceof ChatError)) throw e;
        rejected++;
      }
    };
    for (const e of encoded) for (let n = 0; n < e.length; n++) attempt(e.subarray(0, n));
    for (let i = 0; i < 3000; i++) {
      const src = Buffer.from(encoded[i % encoded.length]!);
      const flips = 1 + (i % 4);
      for (let f = 0; f < flips; f++) src[randomBytes(2).readUInt16LE() % src.length]! ^= 1 << (i % 8);
      attempt(src);
    }
    for (let i = 0; i < 2000; i++) {
      const b = randomBytes(1 + (i % 64));
      b[0] = i % 12; // aim at the core types
      attempt(b);
    }
    expect(rejected).to.be.greaterThan(500);
    expect(decoded).to.be.greaterThan(100);
  });
});
