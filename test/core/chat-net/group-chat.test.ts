import { expect } from 'chai';
import type { StoredMessage } from '../../../core/chat/history-store.js';
import { compareHlc } from '../../../core/chat/hlc.js';
import { Testnet, waitFor } from '../../helpers/testnet.js';

const N = 10;
const PER_SENDER = 3;

describe('chat networks: group chat of ten kernels', function () {
  this.timeout(60_000);
  let net: Testnet | undefined;

  afterEach(async () => {
    await net?.stop();
    net = undefined;
  });

  it('forms a full mesh; every message reaches all nine others exactly once, in causal order per sender', async () => {
    net = await Testnet.start(N);
    const peers = net.peers;
    const received = peers.map(() => [] as StoredMessage[]);
    const chatIds: number[] = [];
    for (const [i, p] of peers.entries()) {
      p.chat.on('message', (_chatId: number, m: StoredMessage) => received[i]!.push(m));
      chatIds.push((await p.chat.createGroup('team ten', 'open sesame')).chatId);
    }
    await waitFor(() => peers.every((p, i) => p.chat.members(chatIds[i]!).filter((m) => m.online).length === N - 1), 'full mesh of ten', 30_000);
    await waitFor(() => peers.every((p, i) => p.chat.list().find((c) => c.chatId === chatIds[i])!.mesh === 'full'), 'mesh status full everywhere');

    // Each sender sends a causal chain: message k+1 after message k.
    for (let k = 0; k < PER_SENDER; k++) for (const [i, p] of peers.entries()) p.chat.send(chatIds[i]!, `${p.email} #${k}`);
    const expected = (N - 1) * PER_SENDER;
    await waitFor(() => received.every((r) => r.length >= expected), 'every message everywhere', 30_000);
    // Give stray duplicates a moment to show up, then check exactly once.
    await new Promise((r) => setTimeout(r, 200));
    for (const [i, r] of received.entries()) {
      expect(r.length, `messages at ${peers[i]!.email}`).to.equal(expected);
      expect(new Set(r.map((m) => m.id.toString('hex'))).size).to.equal(expected);
      expect(r.some((m) => m.sender === peers[i]!.email)).to.equal(false);
      for (const sender of peers) {
        if (sender === peers[i]) continue;
        const fromSender = r.filter((m) => m.sender === sender.email);
        expect(fromSender.map((m) => m.text)).to.deep.equal(Array.from({ length: PER_SENDER }, (_, k) => `${sender.email} #${k}`));
        for (let k = 1; k < fromSender.length; k++) expect(compareHlc(fromSender[k - 1]!.hlc, fromSender[k]!.hlc)).to.be.lessThan(0);
      }
      // History order (by clock) agrees with each sender's order too.
      const page = peers[i]!.chat.history(chatIds[i]!, { limit: 100 }).messages;
      expect(page.length).to.equal(N * PER_SENDER);
    }
  });
});
