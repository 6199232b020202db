import { expect } from 'chai';
import { randomBytes, randomInt } from 'node:crypto';
import { chatEvent, invitationEvent } from '../../../plugins/http-ui/bridge.js';
import { chatJson, decodeCursor, encodeCursor, memberJson, messageJson, transferJson } from '../../../plugins/http-ui/serialize.js';

const FUZZ_CASES = 3000;
const ALPHABET = '0123456789abcdefABCDEF-._~%<>"\'\\/ \u0000\u00e9';

function randomText(max: number): string {
  let out = '';
  for (let i = randomInt(max + 1); i > 0; i--) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}

describe('http-ui: JSON conversion and the history cursor', () => {
  it('round-trips history cursors', () => {
    for (let i = 0; i < 500; i++) {
      const cursor = { hlc: { wallMs: randomInt(2 ** 47), counter: randomInt(0x10000) }, id: randomBytes(16) };
      const decoded = decodeCursor(encodeCursor(cursor)!);
      expect(decoded.hlc).to.deep.equal(cursor.hlc);
      expect(decoded.id.equals(cursor.id)).to.equal(true);
    }
    expect(encodeCursor(undefined)).to.equal(null);
  });

  it('refuses malformed cursors with ERR_UI_BAD_REQUEST and nothing else (fuzz)', () => {
    const valid = encodeCursor({ hlc: { wallMs: 1_700_000_000_000, counter: 3 }, id: randomBytes(16) })!;
    for (let i = 0; i < FUZZ_CASES; i++) {
      // Half random strings, half one-character mutations of a valid cursor.
      let text = randomText(60);
      if (i % 2) {
        const at = randomInt(valid.length);
        text = valid.slice(0, at) + ALPHABET[randomInt(ALPHABET.length)] + valid.slice(at + 1 + randomInt(2));
      }
      try {
        const cursor = decodeCursor(text);
        expect(cursor.hlc.counter).to.be.within(0, 0xffff);
        expect(Number.isSafeInteger(cursor.hlc.wallMs)).to.equal(true);
        expect(cursor.id.length).to.be.greaterThan(0);
      } catch (err) {
        expect((err as { code?: string }).code, text).to.equal('ERR_UI_BAD_REQUEST');
      }
    }
    for (const bad of ['', '1-2', '1-2-abc', '1-70000-aa', `${2 ** 60}-1-aa`, '1-1-zz']) expect(() => decodeCursor(bad), bad).to.throw(/cursor/);
  });

  it('turns whatever the services return into the documented shapes, bytes as hex, no extra fields', () => {
    expect(chatJson({ chatId: 3, kind: 'private', name: 'bob@example.org', online: true, mesh: 'full', members: ['bob@example.org'], networkId: randomBytes(20) })).to.deep.equal({
      chatId: 3,
      kind: 'private',
      name: 'bob@example.org',
      online: true,
      unread: 0,
      meshStatus: 'full',
      onlineMembers: 0,
      lastMessageAt: null,
    });
    const id = randomBytes(16);
    const message = messageJson({ seq: 9, id, type: 1, sender: 'a@example.org', outgoing: true, hlc: { wallMs: 5, counter: 1 }, receivedAt: 6, content: Buffer.from('hi'), text: 'hi', delivery: [{ recipient: 'b', deliveredAt: 7 }, { recipient: 'c', deliveredAt: null }] }, 2);
    expect(message).to.deep.equal({ id: id.toString('hex'), seq: 9, chatId: 2, type: 1, sender: 'a@example.org', outgoing: true, sentAt: 5, receivedAt: 6, text: 'hi', deliveredTo: ['b'], pendingTo: ['c'] });
    expect(memberJson('x@example.org')).to.deep.equal({ identity: 'x@example.org', name: null, online: false, fingerprint: null, safetyNumber: null });
    expect(transferJson({ fileId: 'ab', name: 'f', size: 10, bytes: 4, state: 'active', origin: 'remote', path: '/secret/place', mimeType: 'text/plain', error: null }, [{ chatId: 3, name: 'Team' }])).to.deep.equal({
      id: 'ab',
      name: 'f',
      mimeType: 'text/plain',
      direction: 'in',
      state: 'active',
      size: 10,
      done: 4,
      rate: null,
      error: null,
      chats: [{ chatId: 3, name: 'Team' }],
    });
  });

  it('never throws on odd event payloads (fuzz)', () => {
    const odd = [undefined, null, 0, '', 'x', [], {}, { id: 5 }, { identity: 7 }, randomBytes(4), { message: null }];
    for (let i = 0; i < FUZZ_CASES; i++) {
      const name = (['message', 'delivery', 'typing', 'member', 'mesh'] as const)[i % 5]!;
      const event = chatEvent(name, odd[randomInt(odd.length)], odd[randomInt(odd.length)]);
      expect(event.type).to.equal(name);
      expect(() => JSON.stringify(event)).not.to.throw();
    }
  });

  it('converts invitation events; odd payloads give well-formed events (fuzz)', () => {
    const invitation = { chatId: 4, email: 'alice@example.org', name: 'Alice', text: 'hi <b>', fingerprint: 'ab', safetyNumber: '1 2 3', receivedAt: 5, networkId: 'secret-free but not for the page' };
    expect(invitationEvent('invitation', invitation, undefined)).to.deep.equal({
      type: 'invitation',
      invitation: { chatId: 4, email: 'alice@example.org', name: 'Alice', text: 'hi <b>', fingerprint: 'ab', safetyNumber: '1 2 3', receivedAt: 5 },
    });
    expect(invitationEvent('invitation-delivered', 4, { host: '::1', port: 7 })).to.deep.equal({ type: 'invitation-delivered', chatId: 4, endpoint: '[::1]:7' });
    expect(invitationEvent('invitation-delivered', 4, { host: '127.0.0.1', port: 9 }).endpoint).to.equal('127.0.0.1:9');
    expect(invitationEvent('invitation-sent', { chatId: 3, email: 'bob@example.org', since: 9, deliveries: 0, masked: 'not for the page' }, undefined)).to.deep.equal({
      type: 'invitation-sent',
      invitation: { chatId: 3, email: 'bob@example.org', since: 9, deliveries: 0, state: 'looking' },
    });
    expect(invitationEvent('invitation-sent', { chatId: 3, email: 'bob@example.org', since: 9, deliveries: 2, deliveredAt: 12 }, undefined).invitation).to.include({ state: 'delivered', deliveredAt: 12 });
    expect(invitationEvent('invitation-ended', { chatId: 3, direction: 'in', email: 'a@b.c', reason: 'declined' }, undefined)).to.deep.equal({ type: 'invitation-ended', chatId: 3, direction: 'in', email: 'a@b.c', reason: 'declined' });
    const odd = [undefined, null, 0, '', 'x', [], {}, { host: 5 }, { email: 7, chatId: 'y' }, randomBytes(4), { text: null }, { deliveries: -3, deliveredAt: 'z', reason: 'hacked', direction: 7 }];
    const names = ['invitation', 'invitation-sent', 'invitation-delivered', 'invitation-ended'] as const;
    for (let i = 0; i < FUZZ_CASES; i++) {
      const name = names[i % names.length]!;
      const event = invitationEvent(name, odd[randomInt(odd.length)], odd[randomInt(odd.length)]);
      expect(event.type).to.equal(name);
      const fields =
        name === 'invitation' || name === 'invitation-sent'
          ? Object.values(event.invitation as object)
          : name === 'invitation-ended'
            ? [event.chatId, event.direction, event.email, event.reason]
            : [event.chatId, event.endpoint];
      expect(fields.every((v) => typeof v === 'string' || Number.isFinite(v))).to.equal(true);
      expect(() => JSON.stringify(event)).not.to.throw();
    }
  });
});
