import { expect } from 'chai';
import { once } from 'node:events';
import { MAX_QUEUED_BYTES, SecureChatSession } from '../../../core/node/secure-session.js';
import { securePair, type SecurePair } from '../../helpers/secure-pair.js';

const PSK = Buffer.alloc(32, 7);
const BIG = 60_000;

const pair = (): Promise<SecurePair> => securePair(PSK);

describe('secure chat session', function () {
  this.timeout(20_000);

  it('carries messages both ways with the peer identity from its certificate, and closes cleanly', async () => {
    const p = await pair();
    try {
      const a = new SecureChatSession(p.client, Buffer.alloc(20, 1), { host: '127.0.0.1', port: 4000 });
      const b = new SecureChatSession(p.server, Buffer.alloc(20, 2), undefined);
      expect(a.peerIdentity).to.equal('bob@test.local');
      expect(b.peerIdentity).to.equal('alice@test.local');
      expect(a.remote).to.deep.equal({ host: '127.0.0.1', port: 4000 });
      const got = once(b, 'message');
      a.send(Buffer.from('02hello'));
      expect(((await got)[0] as Buffer).toString()).to.equal('02hello');
      const closedB = once(b, 'close');
      a.close();
      expect(a.closed).to.equal(true);
      const [err] = await closedB;
      expect(err).to.equal(undefined); // a clean close is not redialled
    } finally {
      p.close();
    }
  });

  it('closes with ERR_NODE_SLOW_PEER when a peer reads nothing and the queue passes the cap', async () => {
    const p = await pair();
    try {
      const a = new SecureChatSession(p.client, Buffer.alloc(20, 1), undefined);
      p.server.pause(); // bob never reads
      const closed = once(a, 'close');
      const chunk = Buffer.alloc(BIG, 1);
      const maxSends = Math.ceil((MAX_QUEUED_BYTES * 4) / BIG);
      for (let i = 0; i < maxSends && !a.closed; i++) a.send(chunk);
      expect(a.closed).to.equal(true);
      const [err] = await closed;
      expect((err as { code?: string }).code).to.equal('ERR_NODE_SLOW_PEER');
    } finally {
      p.close();
    }
  });
});
