import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { MIN_BLOCK_SIZE } from '../../../plugins/file-share/constants.js';
import type { PeerLink } from '../../../plugins/file-share/engine.js';
import { hashFile } from '../../../plugins/file-share/hasher.js';
import { MESSAGE_TYPES, decodeMessage, encodeBlockFrame, encodeMessage } from '../../../plugins/file-share/wire.js';
import { linkEngines, linkMesh, type Linkable, type TcpLinkPair } from './helpers/tcp-links.js';
import { completed, startNode, type TestNode } from './helpers/nodes.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Polls `check` every 10 ms, for at most 10 s. */
async function waitUntil(check: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!check()) throw new Error('condition not met in 10 s');
}

describe('file-share swarm over loopback TCP', function () {
  this.timeout(30_000);
  let dir: ReturnType<typeof makeTempDir>;
  let nodes: TestNode[];
  let links: TcpLinkPair[];

  beforeEach(() => {
    dir = makeTempDir('fs-swarm-');
    nodes = [];
    links = [];
  });
  afterEach(async () => {
    for (const l of links) l.close();
    for (const n of nodes) await n.stop();
    dir.cleanup();
  });

  async function node(id: string, opts: Parameters<typeof startNode>[2] = {}): Promise<TestNode> {
    const n = await startNode(dir.path, id, opts);
    nodes.push(n);
    return n;
  }

  function source(blocks: number, name = 'movie.mp4'): { path: string; data: Buffer } {
    const data = randomBytes(blocks * MIN_BLOCK_SIZE - 777);
    const path = join(dir.path, name);
    writeFileSync(path, data);
    return { path, data };
  }

  it('two peers: the file arrives intact under its sanitised name, and is listed done', async () => {
    const { path, data } = source(20, 'report.pdf');
    const seeder = await node('a');
    const leecher = await node('b', { autoDownload: true });
    links.push(await linkEngines(seeder.engine, leecher.engine));
    const progress: number[] = [];
    leecher.engine.on('progress', (p) => progress.push(p.bytes));
    const info = await seeder.engine.share(path);
    const out = await completed(leecher.engine, info.fileId);
    expect(sha(readFileSync(out))).to.equal(sha(data));
    expect(out).to.equal(join(leecher.downloadDir, 'report.pdf'));
    expect(readdirSync(leecher.downloadDir)).to.deep.equal(['report.pdf']);
    expect(leecher.engine.list()[0]).to.include({ state: 'done', bytes: data.length, origin: 'remote' });
    expect(progress.at(-1)).to.equal(data.length);
    expect(seeder.engine.stats.uploadedBytes).to.equal(data.length);
  });

  it('6 peers: most blocks come from members other than the seeder', async () => {
    const { path, data } = source(64);
    const seeder = await node('s');
    const leechers = await Promise.all(['l1', 'l2', 'l3', 'l4', 'l5'].map((id) => node(id, { autoDownload: true })));
    const mesh = await linkMesh([seeder, ...leechers].map((n) => n.engine));
    links.push(...mesh.values());
    const info = await seeder.engine.share(path);
    const outs = await Promise.all(leechers.map((l) => completed(l.engine, info.fileId)));
    for (const out of outs) expect(sha(readFileSync(out))).to.equal(sha(data));
    const received = leechers.reduce((sum, l) => sum + l.engine.stats.downloadedBytes, 0);
    const seederUpload = seeder.engine.stats.uploadedBytes;
    expect(received).to.be.at.least(5 * data.length);
    // Most blocks from other members: the seeder sent well under half of what was received.
    expect(seederUpload / received).to.be.lessThan(0.5);
    // Slow start keeps downloaders that start together (and take every stripe until
    // they hear of each other) from fetching the start of the file from the seeder each.
    expect(seederUpload).to.be.at.most(1.5 * data.length);
  });

  it('the seeder leaves half way and the rest still complete', async () => {
    const { path, data } = source(48);
    const seeder = await node('s');
    const leechers = await Promise.all(['l1', 'l2', 'l3', 'l4'].map((id) => node(id, { autoDownload: true })));
    const mesh = await linkMesh([seeder, ...leechers].map((n) => n.engine));
    links.push(...mesh.values());
    const info = await seeder.engine.share(path);
    const union = new Set<number>();
    let leftAt = -1;
    const seederGone = new Promise<void>((resolve) => {
      for (const l of leechers) {
        l.engine.on('block', ({ block }) => {
          union.add(block);
          if (leftAt < 0 && union.size === 48) {
            leftAt = leechers.reduce((s, x) => s + x.engine.list()[0]!.blocks, 0);
            void seeder.stop().then(resolve);
          }
        });
      }
    });
    const outs = await Promise.all(leechers.map((l) => completed(l.engine, info.fileId)));
    await seederGone;
    for (const out of outs) expect(sha(readFileSync(out))).to.equal(sha(data));
    // The seeder left before the swarm held all copies: the rest came from members.
    expect(leftAt).to.be.lessThan(4 * 48);
    expect(leechers.every((l) => l.engine.list()[0]!.state === 'done')).to.equal(true);
  });

  it('a malicious member serving corrupted blocks is banned and the download completes correctly', async () => {
    const { path, data } = source(32);
    const seeder = await node('s');
    const mallory = await node('m');
    const leecher = await node('l', { autoDownload: true, maxStrikes: 3 });
    await mallory.engine.share(path);
    links.push(await linkEngines(mallory.engine, leecher.engine, { corruptBlocksFrom: 'a' }));
    links.push(await linkEngines(seeder.engine, leecher.engine));
    const banned: string[] = [];
    leecher.engine.on('peerBanned', ({ peerId }) => banned.push(peerId));
    const info = await seeder.engine.share(path);
    const out = await completed(leecher.engine, info.fileId);
    expect(sha(readFileSync(out))).to.equal(sha(data));
    expect(leecher.engine.stats.badBlocks).to.be.at.least(3);
    expect(banned).to.deep.equal(['m']);
    expect(leecher.engine.stats.blocksVerified).to.equal(32);
  });

  it('drops a link that sends a block it was not asked for, from the frame header alone', async () => {
    const { path } = source(8);
    const seeder = await node('s');
    const leecher = await node('l');
    const pair = await linkEngines(seeder.engine, leecher.engine);
    links.push(pair);
    const info = await seeder.engine.share(path);
    await new Promise<void>((resolve) => (leecher.engine.get(info.fileId) ? resolve() : leecher.engine.once('advertised', () => resolve())));
    // The seeder's end of the block socket sends a header announcing a 64 MiB block the
    // leecher never requested, and nothing else: only an early refusal can end the link.
    const header = encodeBlockFrame({ kind: 1, fileId: Buffer.from(info.fileId, 'hex'), block: 0, data: Buffer.alloc(1) }).subarray(0, 41);
    header.writeUInt32LE(64 * 1024 * 1024, 37);
    const blockSocket = pair.sockets[2]!;
    const closed = once(blockSocket, 'close');
    blockSocket.write(header);
    await closed;
    expect(leecher.engine.stats.badFrames).to.equal(1);
    expect(leecher.engine.stats.downloadedBytes).to.equal(0);
  });

  for (const lateFirst of [true, false]) {
  it(`takes the late answers to requests it cancelled, ${lateFirst ? 'before' : 'after'} asking for the same blocks again (the link stays), then finishes`, async () => {
    const { path, data } = source(6);
    const hashed = await hashFile(path);
    const leecher = await node('l', { autoDownload: true, pipeline: 4 });
    // A hand-driven seeder: it hears the leecher's requests and answers only when told.
    const requests: number[] = [];
    let seederLink: PeerLink | undefined;
    const seeder: Linkable = {
      selfId: 'hand',
      addPeer: (link) => { seederLink = link; },
      handleMessage: (_peer, m) => {
        const msg = decodeMessage(m);
        if (msg.type === MESSAGE_TYPES.REQUEST) requests.push(msg.block);
      },
    };
    links.push(await linkEngines(seeder, leecher.engine));
    const frame = (block: number): Buffer => encodeBlockFrame({
      kind: 1, fileId: hashed.fileId, block, data: data.subarray(block * MIN_BLOCK_SIZE, (block + 1) * MIN_BLOCK_SIZE),
    });
    seederLink!.sendMessage(encodeMessage({ type: MESSAGE_TYPES.ADVERTISE, advertisement: hashed.advertisement }));
    await waitUntil(() => requests.length === 4);
    const fileId = hashed.fileId.toString('hex');
    // Pausing cancels the four requests; the answers were already on their way.
    await leecher.engine.pause(fileId);
    const late = requests.splice(0);
    if (lateFirst) for (const b of late) seederLink!.blocks.write(frame(b));
    await leecher.engine.resume(fileId);
    if (!lateFirst) {
      // Blocks are asked again before the old answers arrive (4 of 6 each time: at least two
      // asked twice), so for those both answers are owed.
      await waitUntil(() => requests.length === 4);
      expect(late.filter((b) => requests.includes(b)).length).to.be.at.least(2);
      for (const b of late) seederLink!.blocks.write(frame(b));
    }
    // Serve whatever is asked from now on, until done: the link must have survived.
    const done = completed(leecher.engine, fileId);
    const serve = setInterval(() => {
      for (const b of requests.splice(0)) seederLink!.blocks.write(frame(b));
    }, 10);
    try {
      expect(sha(readFileSync(await done))).to.equal(sha(data));
    } finally {
      clearInterval(serve);
    }
    expect(leecher.engine.stats.badFrames).to.equal(0);
    expect(leecher.engine.peers).to.deep.equal(['hand']);
  });
  }

  it('a restart in the middle resumes without refetching stored blocks', async () => {
    const { path, data } = source(40);
    const seeder = await node('s');
    let leecher = await node('l', { autoDownload: true, pipeline: 2 });
    links.push(await linkEngines(seeder.engine, leecher.engine));
    const info = await seeder.engine.share(path);
    await new Promise<void>((resolve) => {
      let n = 0;
      leecher.engine.on('block', () => { if (++n === 15) resolve(); });
    });
    await leecher.stop();
    nodes.splice(nodes.indexOf(leecher), 1);
    for (const l of links) l.close();
    const before = leecher.engine.list()[0]!.blocks;
    expect(before).to.be.within(15, 39);
    leecher = await node('l');
    const resumed = leecher.engine.list()[0]!;
    expect(resumed.state).to.equal('active');
    expect(resumed.blocks).to.equal(before);
    const uploadedBefore = seeder.engine.stats.uploadedBytes;
    links.push(await linkEngines(seeder.engine, leecher.engine));
    const out = await completed(leecher.engine, info.fileId);
    expect(sha(readFileSync(out))).to.equal(sha(data));
    expect(leecher.engine.stats.blocksVerified).to.equal(40 - before);
    expect(seeder.engine.stats.uploadedBytes - uploadedBefore).to.be.at.most(data.length - (before - 1) * MIN_BLOCK_SIZE);
    expect(readdirSync(leecher.downloadDir)).to.deep.equal(['movie.mp4']);
  });

  it('a full disk pauses the download with ERR_FILE_SHARE_DISK_FULL, and resume finishes once space is back', async () => {
    const { path, data } = source(16);
    // The disk "fills up" after 4 blocks: later offsets fail until space is freed.
    let full = true;
    const seeder = await node('s');
    const leecher = await node('l', {
      autoDownload: true,
      fsync: 'always',
      openBlockFile: async (p, flags) => {
        const h = await fsp.open(p, flags);
        return {
          write: (buf, off, len, pos) => (full && pos >= 4 * MIN_BLOCK_SIZE ? Promise.reject(Object.assign(new Error('no space'), { code: 'ENOSPC' })) : h.write(buf, off, len, pos)),
          read: (buf, off, len, pos) => h.read(buf, off, len, pos),
          datasync: () => h.datasync(),
          close: () => h.close(),
        };
      },
    });
    links.push(await linkEngines(seeder.engine, leecher.engine));
    const failed = new Promise<{ fileId: string; error: Error & { code?: string } }>((resolve) => leecher.engine.once('downloadFailed', resolve));
    const info = await seeder.engine.share(path);
    const failure = await failed;
    expect(failure.error.code).to.equal('ERR_FILE_SHARE_DISK_FULL');
    const paused = leecher.engine.get(info.fileId)!;
    expect(paused.state).to.equal('paused');
    expect(paused.error).to.match(/disk full/);
    full = false;
    await leecher.engine.resume(info.fileId);
    expect(sha(readFileSync(await completed(leecher.engine, info.fileId)))).to.equal(sha(data));
  });

  it('a file shared in one chat is neither announced to nor served to members of another', async () => {
    const { path, data } = source(6);
    const seeder = await node('s');
    const friend = await node('f', { autoDownload: true });
    const stranger = await node('x', { autoDownload: true });
    links.push(await linkEngines(seeder.engine, friend.engine, { chats: ['group:friends'] }));
    links.push(await linkEngines(seeder.engine, stranger.engine, { chats: ['group:work'] }));
    const info = await seeder.engine.share(path, { chat: 'group:friends' });
    expect(sha(readFileSync(await completed(friend.engine, info.fileId)))).to.equal(sha(data));
    expect(stranger.engine.list()).to.deep.equal([]);
    // Knowing the ID is not enough: a request from outside the chat gets nothing.
    const before = seeder.engine.stats.uploadedBytes;
    const link = links[1]!;
    const head = Buffer.alloc(4);
    const request = Buffer.concat([Buffer.from([15]), Buffer.from(info.fileId, 'hex'), Buffer.alloc(4)]);
    head.writeUInt32LE(request.length, 0);
    // sockets: [msgA (seeder side), msgB (stranger side), ...]: write as the stranger.
    // Then a malformed message on the same socket: once it is counted, the request before it was handled.
    const junk = Buffer.from([1, 0, 0, 0, 99]);
    link.sockets[1]!.write(Buffer.concat([head, request, junk]));
    await new Promise<void>((resolve, reject) => {
      const limit = setTimeout(() => reject(new Error('seeder never saw the messages')), 5_000);
      const poll = setInterval(() => {
        if (seeder.engine.stats.badMessages > 0) {
          clearInterval(poll);
          clearTimeout(limit);
          setImmediate(resolve);
        }
      }, 10);
    });
    expect(seeder.engine.stats.uploadedBytes).to.equal(before);
    expect(seeder.engine.stats.requestsServed).to.equal(6);
  });

  it('pause stops requests, resume finishes, cancel removes the .part', async () => {
    const { path, data } = source(24, 'a.bin');
    const seeder = await node('s');
    const leecher = await node('l', { pipeline: 1 });
    links.push(await linkEngines(seeder.engine, leecher.engine));
    const advertised = new Promise<string>((resolve) => leecher.engine.once('advertised', (i) => resolve(i.fileId)));
    await seeder.engine.share(path);
    const fileId = await advertised;
    expect(leecher.engine.get(fileId)!.state).to.equal('advertised');
    await leecher.engine.download(fileId);
    await new Promise<void>((resolve) => leecher.engine.once('block', () => resolve()));
    await leecher.engine.pause(fileId);
    expect(leecher.engine.get(fileId)!.state).to.equal('paused');
    await leecher.engine.resume(fileId);
    expect(sha(readFileSync(await completed(leecher.engine, fileId)))).to.equal(sha(data));

    const other = source(8, 'b.bin');
    const adv2 = new Promise<string>((resolve) => leecher.engine.once('advertised', (i) => resolve(i.fileId)));
    await seeder.engine.share(other.path);
    const id2 = await adv2;
    await leecher.engine.download(id2);
    await leecher.engine.cancel(id2);
    expect(leecher.engine.get(id2)!.state).to.equal('cancelled');
    expect(readdirSync(leecher.downloadDir).sort()).to.deep.equal(['a.bin']);
  });
});
