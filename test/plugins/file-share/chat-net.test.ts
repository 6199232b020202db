import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fileSharePlugin, { downloadFile, listFiles, shareIntoChat, type FileInfo, type FileShareService } from '../../../plugins/file-share/index.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { Testnet, waitFor, type TestPeer } from '../../helpers/testnet.js';

const N = 3;
/** Several blocks, the last one partial. */
const FILE_SIZE = 5 * 64 * 1024 + 12_345;

const sha256 = (buf: Buffer): string => createHash('sha256').update(buf).digest('hex');

describe('file-share over chat networks (real kernels)', function () {
  this.timeout(60_000);
  let net: Testnet | undefined;
  let dir: ReturnType<typeof makeTempDir> | undefined;

  afterEach(async () => {
    await net?.stop();
    net = undefined;
    dir?.cleanup();
    dir = undefined;
  });

  const fileShare = (p: TestPeer): FileShareService => p.kernel.resolve('fileShare');

  it('one member shares a file into a group chat; the others download it with matching SHA-256', async () => {
    net = new Testnet();
    net.extraPlugins = () => [{ definition: fileSharePlugin, options: {} }];
    for (let i = 0; i < N; i++) await net.addPeer(`peer${i}@test.local`, i);
    const peers = net.peers;
    const chatIds: number[] = [];
    for (const p of peers) chatIds.push((await p.chat.createGroup('files', 'open sesame')).chatId);
    await waitFor(() => peers.every((p, i) => p.chat.members(chatIds[i]!).filter((m) => m.online).length === N - 1), 'full mesh', 30_000);

    // Every engine is known by its node ID, what its peers' sessions report.
    for (const p of peers) expect(fileShare(p).selfId).to.equal(p.kernel.connections.peerId.toString('hex'));

    const advertised = peers.map(() => [] as Array<[FileInfo, string]>);
    const completed = peers.map(() => [] as FileInfo[]);
    for (const [i, p] of peers.entries()) {
      fileShare(p).on('advertised', (info, from) => advertised[i]!.push([info, from]));
      fileShare(p).on('complete', (info) => completed[i]!.push(info));
    }

    dir = makeTempDir('fs-chat-net-');
    const content = randomBytes(FILE_SIZE);
    const source = join(dir.path, 'report.bin');
    writeFileSync(source, content);
    const networkId = peers[0]!.chat.list()[0]!.networkId.toString('hex');
    // What `bitchat share report.bin --chat files` does on the running node.
    const shared = await shareIntoChat(peers[0]!.kernel, source, 'Files');
    expect(fileShare(peers[0]!).chatsOf(shared.fileId)).to.deep.equal([networkId]);

    const others = peers.slice(1);
    await waitFor(() => others.every((_, k) => advertised[k + 1]!.some(([info]) => info.fileId === shared.fileId)), 'advertisement everywhere');
    for (const [k, p] of others.entries()) {
      const [info, from] = advertised[k + 1]!.find(([f]) => f.fileId === shared.fileId)!;
      expect(from).to.equal(peers[0]!.email);
      expect(info.name).to.equal('report.bin');
      expect(info.size).to.equal(FILE_SIZE);
      expect(fileShare(p).chatsOf(shared.fileId)).to.deep.equal([networkId]);
    }
    // What `bitchat files download <prefix>` does on the running node.
    const progress = others.map(() => [] as number[]);
    const finished = await Promise.all(others.map((p, k) => downloadFile(fileShare(p), shared.fileId.slice(0, 12), (e) => progress[k]!.push(e.bytes))));
    expect(finished.map((f) => f.state)).to.deep.equal(['done', 'done']);
    for (const bytes of progress) expect(bytes.at(-1)).to.equal(FILE_SIZE);
    await waitFor(() => others.every((_, k) => completed[k + 1]!.some((f) => f.fileId === shared.fileId)), 'downloads complete', 30_000);

    for (const p of others) {
      const info = fileShare(p).list().find((f) => f.fileId === shared.fileId)!;
      expect(info.state).to.equal('done');
      expect(info.path).to.be.a('string');
      expect(info.path!.startsWith(p.dataDir)).to.equal(true);
      expect(sha256(readFileSync(info.path!))).to.equal(sha256(content));
    }
    // Block data went over session stream ports, not chat messages.
    expect(fileShare(peers[0]!).stats.uploadedBytes).to.be.greaterThan(0);
    const downloaded = others.reduce((sum, p) => sum + fileShare(p).stats.downloadedBytes, 0);
    expect(downloaded).to.be.at.least(2 * FILE_SIZE);
    // `bitchat files` on a downloader.
    const lines: string[] = [];
    listFiles(peers[1]!.kernel, { out: (l) => lines.push(l) });
    expect(lines).to.have.length(1);
    expect(lines[0]).to.match(/^[0-9a-f]{16} {2}done {7}100% .* report\.bin$/);
    expect(lines[0]!.startsWith(shared.fileId.slice(0, 16))).to.equal(true);
  });

  it('keeps one link per remote node across chats, and scopes files to the chat they were shared in', async () => {
    net = new Testnet();
    net.extraPlugins = () => [{ definition: fileSharePlugin, options: {} }];
    for (let i = 0; i < 3; i++) await net.addPeer(`peer${i}@test.local`, i);
    const [p0, p1, p2] = net.peers as [TestPeer, TestPeer, TestPeer];
    // Everyone in "all"; only peers 0 and 1 in "pair".
    const all = await Promise.all([p0, p1, p2].map((p) => p.chat.createGroup('all', 'secret all')));
    const pair = await Promise.all([p0, p1].map((p) => p.chat.createGroup('pair', 'secret pair')));
    await waitFor(() => [p0, p1, p2].every((p, i) => p.chat.members(all[i]!.chatId).filter((m) => m.online).length === 2), 'mesh of "all"', 30_000);
    await waitFor(() => [p0, p1].every((p, i) => p.chat.members(pair[i]!.chatId).filter((m) => m.online).length === 1), 'mesh of "pair"', 30_000);

    const seen = new Map<TestPeer, string[]>([[p1, []], [p2, []]]);
    for (const [p, list] of seen) fileShare(p).on('advertised', (info) => list.push(info.name));
    dir = makeTempDir('fs-chat-net-');
    const secretPath = join(dir.path, 'pair-only.txt');
    const publicPath = join(dir.path, 'for-all.txt');
    writeFileSync(secretPath, randomBytes(70_000));
    writeFileSync(publicPath, randomBytes(1000));
    const pairFile = await fileShare(p0).share(secretPath, pair[0]!.networkId.toString('hex'));
    // A local chat ID (what the UI sends) maps to the chat's network ID.
    const publicFile = await fileShare(p0).share(publicPath, String(all[0]!.chatId));
    expect(fileShare(p0).chatsOf(publicFile.fileId)).to.deep.equal([all[0]!.networkId.toString('hex')]);

    await waitFor(() => seen.get(p2)!.includes('for-all.txt') && seen.get(p1)!.includes('for-all.txt') && seen.get(p1)!.includes('pair-only.txt'), 'advertisements');
    // Peer 1 shares both chats with peer 0 over one link and still got each file once.
    expect([...seen.get(p1)!].sort()).to.deep.equal(['for-all.txt', 'pair-only.txt']);
    expect(seen.get(p2)).to.deep.equal(['for-all.txt']);
    expect(fileShare(p2).list().map((f) => f.name)).to.deep.equal(['for-all.txt']);
    // Peer 1 learnt each file's own chat: the link rides on one of the two sessions, but an
    // advertisement goes through a session of the file's chat. So once peer 1 seeds the
    // pair-only file it will not offer it in "all" (one of these two checks goes through
    // the non-carrier session, whichever chat's network ID sorts first).
    expect(fileShare(p1).chatsOf(pairFile.fileId)).to.deep.equal([pair[1]!.networkId.toString('hex')]);
    expect(fileShare(p1).chatsOf(publicFile.fileId)).to.deep.equal([all[1]!.networkId.toString('hex')]);

    const done = new Promise<FileInfo>((resolve) => fileShare(p1).on('complete', resolve));
    await fileShare(p1).download(pairFile.fileId);
    const info = await done;
    expect(sha256(readFileSync(info.path!))).to.equal(sha256(readFileSync(secretPath)));
  });

  it('two devices of one identity are two peers: each gets its own link, and a device downloads from its twin', async () => {
    net = new Testnet();
    net.extraPlugins = () => [{ definition: fileSharePlugin, options: {} }];
    const laptop = await net.addPeer('alice@test.local', 0);
    const bob = await net.addPeer('bob@test.local', 1);
    const phone = await net.addDevice(laptop);
    const nodes = [laptop, bob, phone];
    const chats = await Promise.all(nodes.map((p) => p.chat.createGroup('family', 'secret family')));
    await waitFor(() => nodes.every((p) => fileShare(p).peers.length === 2), 'two file-share links on every node', 30_000);
    const nodeId = (p: TestPeer): string => p.kernel.connections.peerId.toString('hex');
    // Bob links to both of alice's devices, and her devices to each other.
    expect(fileShare(bob).peers.sort()).to.deep.equal([nodeId(laptop), nodeId(phone)].sort());
    expect(fileShare(phone).peers.sort()).to.deep.equal([nodeId(laptop), nodeId(bob)].sort());

    dir = makeTempDir('fs-chat-net-');
    const content = randomBytes(FILE_SIZE);
    const source = join(dir.path, 'holiday.bin');
    writeFileSync(source, content);
    const from = new Map<TestPeer, string>();
    const done = [bob, phone].map((p) => new Promise<FileInfo>((resolve) => {
      fileShare(p).on('advertised', (info, who) => {
        from.set(p, who);
        void fileShare(p).download(info.fileId);
      });
      fileShare(p).on('complete', resolve);
    }));
    await fileShare(laptop).share(source, chats[0]!.networkId.toString('hex'));
    for (const info of await Promise.all(done)) expect(sha256(readFileSync(info.path!))).to.equal(sha256(content));
    // People see who offered it by identity, whichever device it was.
    expect(from.get(bob)).to.equal('alice@test.local');
    expect(from.get(phone)).to.equal('alice@test.local');
    expect(fileShare(laptop).stats.uploadedBytes).to.be.greaterThan(0);
  });
});
