import { expect } from 'chai';
import { Bitfield } from '../../../plugins/file-share/bitfield.js';
import { DownloadScheduler, type SchedulerOptions } from '../../../plugins/file-share/scheduler.js';

function bits(size: number, set: number[]): Bitfield {
  const b = new Bitfield(size);
  for (const i of set) b.set(i);
  return b;
}

function make(over: Partial<SchedulerOptions> & { blockCount: number }): { s: DownloadScheduler; requests: string[]; cancels: string[]; bans: string[] } {
  const requests: string[] = [];
  const cancels: string[] = [];
  const bans: string[] = [];
  const s = new DownloadScheduler({
    selfId: 'me', have: new Bitfield(over.blockCount), pipeline: 1, random: () => 0.5,
    request: (p, b) => requests.push(`${p}:${b}`), cancel: (p, b) => cancels.push(`${p}:${b}`), onBan: (p) => bans.push(p),
    ...over,
  });
  return { s, requests, cancels, bans };
}

describe('file-share download scheduler', () => {
  const open: DownloadScheduler[] = [];
  afterEach(() => open.splice(0).forEach((s) => s.close()));

  it('asks for the rarest block first, each from a partial holder with a free slot', () => {
    const t = make({ blockCount: 4 });
    open.push(t.s);
    t.s.setPeerBits('p1', bits(4, [0, 1, 2]));
    t.s.setPeerBits('p2', bits(4, [0, 1]));
    t.s.setPeerBits('p3', bits(4, [0]));
    t.s.fill();
    expect(t.requests).to.deep.equal(['p1:2', 'p2:1', 'p3:0']);
  });

  it('asks a seeder only for blocks of its own stripe, and other blocks of the downloader holding them', () => {
    const t = make({ blockCount: 6, selfId: 'b', pipeline: 10 });
    open.push(t.s);
    t.s.setPeerBits('s', Bitfield.full(6));
    t.s.setPeerBits('a', bits(6, []));
    t.s.fill();
    // members [a, b]: b owns the odd blocks.
    expect(t.requests.sort()).to.deep.equal(['s:1', 's:3', 's:5']);
    t.s.peerHas('a', 0);
    t.s.fill();
    expect(t.requests).to.include('a:0');
    expect(t.requests.filter((r) => r.startsWith('s:'))).to.have.length(3);
  });

  it('falls back to one off-stripe block when nothing else can move', () => {
    const t = make({ blockCount: 2, selfId: 'b' });
    open.push(t.s);
    t.s.setPeerBits('s', Bitfield.full(2));
    t.s.setPeerBits('a', bits(2, []));
    t.s.fill();
    expect(t.requests).to.deep.equal(['s:1']);
    expect(t.s.onBlock('s', 1, true)).to.equal('accepted');
    t.s.fill();
    expect(t.requests).to.deep.equal(['s:1', 's:0']);
    expect(t.s.stats.offStripe).to.equal(1);
  });

  it('re-queues a bad block to another peer, never the sender, and bans after maxStrikes', () => {
    const t = make({ blockCount: 4, maxStrikes: 2, pipeline: 4 });
    open.push(t.s);
    t.s.setPeerBits('evil', bits(4, [0, 1, 2, 3]));
    t.s.fill();
    expect(t.requests).to.have.length(4);
    expect(t.s.onBlock('evil', 0, false)).to.equal('bad');
    t.s.setPeerBits('good', bits(4, [0, 1, 2, 3]));
    t.s.fill();
    expect(t.requests).to.include('good:0');
    expect(t.s.onBlock('evil', 1, false)).to.equal('banned');
    expect(t.bans).to.deep.equal(['evil']);
    expect(t.cancels.sort()).to.deep.equal(['evil:2', 'evil:3']);
    t.s.fill();
    expect(t.requests.filter((r) => r.startsWith('good:')).sort()).to.deep.equal(['good:0', 'good:1', 'good:2', 'good:3']);
    for (const b of [0, 1, 2, 3]) t.s.onBlock('good', b, true);
    expect(t.s.complete).to.equal(true);
  });

  it('re-queues the requests of a peer that leaves or refuses', () => {
    const t = make({ blockCount: 2, pipeline: 2 });
    open.push(t.s);
    t.s.setPeerBits('x', bits(2, [0, 1]));
    t.s.fill();
    expect(t.s.inFlight).to.equal(2);
    t.s.removePeer('x');
    expect(t.s.inFlight).to.equal(0);
    t.s.setPeerBits('y', bits(2, [0, 1]));
    t.s.fill();
    t.s.onReject('y', 0);
    t.s.fill();
    expect(t.requests.filter((r) => r === 'y:0')).to.have.length(1);
    t.s.setPeerBits('z', bits(2, [0]));
    t.s.fill();
    expect(t.requests).to.include('z:0');
  });

  it('cancels and re-issues a request that times out', async () => {
    const t = make({ blockCount: 1, requestTimeoutMs: 60 });
    open.push(t.s);
    t.s.setPeerBits('slow', bits(1, [0]));
    t.s.fill();
    await new Promise<void>((resolve, reject) => {
      const limit = setTimeout(() => reject(new Error('no re-request')), 5_000);
      const poll = setInterval(() => {
        if (t.requests.length >= 2) {
          clearInterval(poll);
          clearTimeout(limit);
          resolve();
        }
      }, 20);
    });
    expect(t.cancels[0]).to.equal('slow:0');
    expect(t.s.stats.timeouts).to.be.at.least(1);
  });
});
