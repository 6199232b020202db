/**
 * The real `bitchat` executable beside a running node: it finds the node's control
 * socket and goes through it (no password asked), and a second real node receives
 * what it sends. Run `npm run build` first (the executable runs the compiled build).
 */
import { expect } from 'chai';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { controlSocketPath } from '../../../core/control/index.js';
import { saveProfile } from '../../../core/identity/profile.js';
import { BitchatProcess, spawnBitchat } from '../../helpers/bitchat-process.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { Testnet, testProfile, waitFor } from '../../helpers/testnet.js';

/** No password anywhere: whatever works here went through the running node. */
const NO_PASSWORD = { BITCHAT_PASSWORD: undefined };
const PASSWORD = 'control cli password';

function writeConfig(dir: string, dataDir: string, profile: string | null = null): string {
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ dataDir, profile, listen: { host: '127.0.0.1', port: 0 }, logLevel: 'silent', plugins: {} }));
  return file;
}

describe('bitchat CLI through a running node\'s control socket', function () {
  this.timeout(60_000);

  describe('beside a node in a group with a second node', () => {
    let net: Testnet;
    let temp: ReturnType<typeof makeTempDir>;
    let config: string;

    before(async () => {
      net = await Testnet.start(2, ['alice@test.local', 'bob@test.local']);
      temp = makeTempDir('bitchat-control-cli-');
      config = writeConfig(temp.path, net.peers[0]!.dataDir);
      const [alice, bob] = net.peers;
      const chatId = (await alice!.chat.createGroup('Garden', 'roses')).chatId;
      await bob!.chat.createGroup('Garden', 'roses');
      await waitFor(() => alice!.chat.members(chatId).some((m) => m.online), 'bob online in alice\'s chat');
    });
    after(async () => {
      await net.stop();
      temp.cleanup();
    });

    it('send goes through the running node, prints the delivery, and the second node receives it', async () => {
      const received: string[] = [];
      net.peers[1]!.chat.on('message', (_id: number, m: { text?: string }) => received.push(m.text ?? ''));
      const r = await spawnBitchat(['--config', config, 'send', 'garden', 'hello from the CLI', '--wait', '10'], NO_PASSWORD);
      expect(r.code, r.err).to.equal(0);
      expect(r.out).to.match(/^delivered to bob@test\.local$/m).and.match(/^sent$/m);
      await waitFor(() => received.includes('hello from the CLI'), 'bob received the CLI\'s message');
    });

    it('history reads the running node\'s store through the socket', async () => {
      const r = await spawnBitchat(['--config', config, 'history', 'Garden', '--limit', '5'], NO_PASSWORD);
      expect(r.code, r.err).to.equal(0);
      expect(r.out).to.match(/alice@test\.local: hello from the CLI$/m);
      const unknown = await spawnBitchat(['--config', config, 'history', 'no such chat'], NO_PASSWORD);
      expect(unknown.code).to.equal(1);
      expect(unknown.err).to.contain('[ERR_NODE_UNKNOWN_CHAT]');
    });

    it('status shows the node ID, port, chats with their mesh, and plugins', async () => {
      const kernel = net.peers[0]!.kernel;
      const r = await spawnBitchat(['--config', config, 'status'], NO_PASSWORD);
      expect(r.code, r.err).to.equal(0);
      expect(r.out).to.contain(kernel.connections.peerId.toString('hex')).and.contain(`port:    ${kernel.connections.localPort}`);
      expect(r.out).to.contain('profile: alice@test.local (alice), unlocked');
      expect(r.out).to.contain('Garden (group): online, mesh full, 1/1 members connected');
      expect(r.out).to.contain('plugins: test-rendezvous@0.0.0');
    });

    it('join brings a new chat online in the running node and prints what arrives until it leaves', async () => {
      const watcher = new BitchatProcess(['--config', config, 'join', 'Roses', '--secret', 's', '--exit-after', '20'], NO_PASSWORD);
      try {
        await watcher.waitForOutput(/in "Roses" on the running node \(port \d+\)/);
        const alice = net.peers[0]!.chat;
        const mine = alice.list().find((c) => c.name === 'Roses');
        expect(mine?.online, 'the chat is online in the running node').to.equal(true);
        const bobChat = await net.peers[1]!.chat.createGroup('Roses', 's');
        await waitFor(() => alice.members(mine!.chatId).some((m) => m.online), 'bob online in Roses');
        net.peers[1]!.chat.send(bobChat.chatId, 'seen from the terminal?');
        await watcher.waitForOutput(/bob@test\.local: seen from the terminal\?$/m);
      } finally {
        const r = await watcher.stop('SIGINT');
        expect(r.code, r.err).to.equal(0);
      }
      // Leaving the terminal does not take the chat offline in the node.
      expect(net.peers[0]!.chat.list().find((c) => c.name === 'Roses')?.online).to.equal(true);
    });
  });

  describe('beside `bitchat start`', () => {
    let temp: ReturnType<typeof makeTempDir>;
    let node: BitchatProcess | undefined;
    beforeEach(() => (temp = makeTempDir('bitchat-control-start-')));
    afterEach(async () => {
      await node?.stop('SIGKILL');
      node = undefined;
      temp.cleanup();
    });

    it('a killed node leaves a stale socket: status says no node runs, the next start replaces it', async () => {
      const config = writeConfig(temp.path, join(temp.path, 'data'));
      const socket = controlSocketPath(join(temp.path, 'data'));
      node = new BitchatProcess(['--config', config, 'start'], NO_PASSWORD);
      await node.waitForOutput(/Press Ctrl-C/);
      expect(node.out).to.contain(`control: ${socket}`);
      const before = await spawnBitchat(['--config', config, 'status'], NO_PASSWORD);
      expect(before.code, before.err).to.equal(0);
      expect(before.out).to.match(/^node: +[0-9a-f]{40} \(pid \d+\)$/m);

      await node.stop('SIGKILL');
      expect(statSync(socket).isSocket(), 'the killed node left its socket').to.equal(true);
      const dead = await spawnBitchat(['--config', config, 'status'], NO_PASSWORD);
      expect(dead.code).to.equal(1);
      expect(dead.err).to.contain('no node is running').and.contain('[ERR_CONTROL_NOT_RUNNING]');

      node = new BitchatProcess(['--config', config, 'start'], NO_PASSWORD);
      await node.waitForOutput(/Press Ctrl-C/);
      const again = await spawnBitchat(['--config', config, 'status'], NO_PASSWORD);
      expect(again.code, again.err).to.equal(0);
      expect(again.out).to.contain(`(pid ${node.child.pid})`);
      const stopped = await node.stop('SIGINT');
      expect(stopped.code, stopped.err).to.equal(0);
      expect(existsSync(socket), 'a clean stop removes the socket').to.equal(false);
    });

    it('a locked node refuses chat commands; started with --password-file it serves them without a password', async () => {
      const profilePath = join(temp.path, 'me.profile');
      await saveProfile(profilePath, await testProfile('carol@test.local', 0), PASSWORD);
      const config = writeConfig(temp.path, join(temp.path, 'data'), profilePath);
      node = new BitchatProcess(['--config', config, 'start'], NO_PASSWORD);
      await node.waitForOutput(/Press Ctrl-C/);
      expect(node.out).to.contain('profile: locked');
      const locked = await spawnBitchat(['--config', config, 'send', 'x', 'y'], NO_PASSWORD);
      expect(locked.code).to.equal(1);
      expect(locked.err).to.contain('[ERR_NODE_LOCKED]');
      await node.stop('SIGINT');

      const passwordFile = join(temp.path, 'password');
      writeFileSync(passwordFile, 'not the password\n', { mode: 0o600 });
      const wrong = await spawnBitchat(['--config', config, 'start', '--password-file', passwordFile], NO_PASSWORD);
      expect(wrong.code, 'a wrong password ends the start (it does not hang)').to.equal(1);
      expect(wrong.err).to.contain('[ERR_PROFILE_BAD_PASSWORD]');
      writeFileSync(passwordFile, PASSWORD + '\n', { mode: 0o600 });
      node = new BitchatProcess(['--config', config, 'start', '--password-file', passwordFile], NO_PASSWORD);
      await node.waitForOutput(/Press Ctrl-C/);
      expect(node.out).to.contain('profile: carol@test.local, unlocked');
      const joined = await spawnBitchat(['--config', config, 'join', 'Solo', '--exit-after', '0'], NO_PASSWORD);
      expect(joined.code, joined.err).to.equal(0);
      const sent = await spawnBitchat(['--config', config, 'send', 'Solo', 'note to self', '--wait', '0'], NO_PASSWORD);
      expect(sent.code, sent.err).to.equal(0);
      const history = await spawnBitchat(['--config', config, 'history', 'solo'], NO_PASSWORD);
      expect(history.out).to.match(/carol@test\.local: note to self$/m);
      const stopped = await node.stop('SIGINT');
      expect(stopped.code, stopped.err).to.equal(0);
    });
  });
});
