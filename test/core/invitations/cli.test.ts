import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { maskedEmail } from '../../../core/chat/network-id.js';
import { main } from '../../../core/cli.js';
import { InProcessCaller } from '../../../core/control/client.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { Testnet, type TestPeer, waitFor } from '../../helpers/testnet.js';

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('bitchat invite / invitations / accept / decline (through the running nodes\' control sockets)', function () {
  this.timeout(30_000);
  let net: Testnet | undefined;
  const dir = makeTempDir('bitchat-invite-cli-');

  afterEach(async () => {
    await net?.stop();
    net = undefined;
  });

  after(() => dir.cleanup());

  /** A config pointing at the peer's data folder: the CLI finds its node's control socket there. */
  function configOf(peer: TestPeer, name: string): string {
    const file = join(dir.path, `${name}.json`);
    writeFileSync(file, JSON.stringify({ dataDir: peer.dataDir, profile: null, listen: { host: '127.0.0.1', port: 0 }, logLevel: 'silent', plugins: {} }));
    return file;
  }

  it('invites, lists the pending invitation with its safety number, accepts; declines another', async () => {
    net = await Testnet.start(3, ['alice@test.local', 'bob@test.local', 'carol@test.local']);
    const [alice, bob, carol] = net.peers as [TestPeer, TestPeer, TestPeer];
    const [aliceCfg, bobCfg, carolCfg] = [configOf(alice, 'alice'), configOf(bob, 'bob'), configOf(carol, 'carol')];
    const bobMask = await maskedEmail('bob@test.local');
    const bobAt = { host: '127.0.0.1', port: bob.kernel.connections.localPort };

    const none = await run(['--config', bobCfg, 'invitations']);
    expect(none.code, none.err).to.equal(0);
    expect(none.out).to.equal('no pending invitations');

    // The discovery report the DHT would make, fed in as the invite waits for the delivery.
    const inviting = run(['--config', aliceCfg, 'invite', 'bob@test.local', 'coffee at ten?', '--wait', '15']);
    await waitFor(() => alice.chat.invitations.pendingOutgoing().length === 1, 'alice to look for bob');
    alice.chat.peerDiscovered(bobMask, bobAt);
    const invited = await inviting;
    expect(invited.code, invited.err).to.equal(0);
    expect(invited.out).to.match(/^delivered to 127\.0\.0\.1:\d+$/m);
    expect(invited.out).to.match(/^invited bob@test\.local$/m);

    const listed = await run(['--config', bobCfg, 'invitations']);
    expect(listed.code, listed.err).to.equal(0);
    expect(listed.out).to.include(`alice@test.local (alice), safety number ${alice.profile.safetyNumber}`);
    expect(listed.out).to.include('  coffee at ten?');

    const accepted = await run(['--config', bobCfg, 'accept', 'alice@test.local']);
    expect(accepted.code, accepted.err).to.equal(0);
    expect(accepted.out).to.equal('accepted: private chat with alice@test.local is online');
    expect(bob.chat.pendingInvitations()).to.deep.equal([]);

    const missing = await run(['--config', bobCfg, 'accept', 'alice@test.local']);
    expect(missing.code).to.equal(1);
    expect(missing.err).to.include('ERR_NODE_INVITATION_NOT_FOUND');

    // Carol declines hers.
    const toCarol = run(['--config', aliceCfg, 'invite', 'carol@test.local', 'and you?', '--wait', '15']);
    await waitFor(() => alice.chat.invitations.pendingOutgoing().some((o) => o.email === 'carol@test.local'), 'alice to look for carol');
    alice.chat.peerDiscovered(await maskedEmail('carol@test.local'), { host: '127.0.0.1', port: carol.kernel.connections.localPort });
    expect((await toCarol).code).to.equal(0);
    const declined = await run(['--config', carolCfg, 'decline', 'alice@test.local']);
    expect(declined.code, declined.err).to.equal(0);
    expect(carol.chat.list()).to.deep.equal([]);
  });

  it('lists the invitations we sent (looking / delivered) and cancels one with `bitchat uninvite`', async () => {
    net = await Testnet.start(2, ['alice@test.local', 'bob@test.local']);
    const [alice, bob] = net.peers as [TestPeer, TestPeer];
    const aliceCfg = configOf(alice, 'alice-out');
    await alice.chat.invite('bob@test.local', 'delivered one');
    await alice.chat.invite('dave@test.local', 'nobody home');
    alice.chat.peerDiscovered(await maskedEmail('bob@test.local'), { host: '127.0.0.1', port: bob.kernel.connections.localPort });
    await waitFor(() => alice.chat.outgoingInvitations().some((o) => o.state === 'delivered'), 'bob\'s node takes it');

    const listed = await run(['--config', aliceCfg, 'invitations']);
    expect(listed.code, listed.err).to.equal(0);
    expect(listed.out).to.match(/^invited bob@test\.local since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d: delivered 1x, last .*; waiting for them to accept$/m);
    expect(listed.out).to.match(/^invited dave@test\.local since .*: looking for their node$/m);

    const cancelled = await run(['--config', aliceCfg, 'uninvite', 'Dave@Test.Local']);
    expect(cancelled.code, cancelled.err).to.equal(0);
    expect(cancelled.out).to.equal('cancelled the invitation to Dave@Test.Local');
    expect(alice.chat.outgoingInvitations().map((o) => o.email)).to.deep.equal(['bob@test.local']);
    const again = await run(['--config', aliceCfg, 'uninvite', 'dave@test.local']);
    expect(again.code).to.equal(1);
    expect(again.err).to.include('ERR_NODE_INVITATION_NOT_FOUND');
    expect((await run(['--config', aliceCfg, 'invitations'])).out).to.not.include('dave@test.local');
  });

  it('chat.watch streams "invitation" events; chat.invitation-policy reads and sets the policy', async () => {
    net = await Testnet.start(2, ['alice@test.local', 'bob@test.local']);
    const [alice, bob] = net.peers as [TestPeer, TestPeer];
    const caller = new InProcessCaller(bob.kernel.controlMethods!);
    try {
      expect(await caller.call('chat.invitation-policy')).to.deep.equal({ allow: true, lanOnly: false });
      const events: Array<[string, Record<string, unknown>]> = [];
      const cancel = new AbortController();
      const watching = caller.call('chat.watch', {}, { signal: cancel.signal, onEvent: (e, d) => events.push([e, d as Record<string, unknown>]) }).catch(() => undefined);
      await alice.chat.invite('bob@test.local', 'watch this');
      alice.chat.peerDiscovered(await maskedEmail('bob@test.local'), { host: '127.0.0.1', port: bob.kernel.connections.localPort });
      await waitFor(() => events.some(([e]) => e === 'invitation'), 'the invitation event');
      const [, inv] = events.find(([e]) => e === 'invitation')!;
      expect(inv['email']).to.equal('alice@test.local');
      expect(inv['text']).to.equal('watch this');
      // Other views learn that it left the list.
      await bob.chat.declineInvitation('alice@test.local');
      await waitFor(() => events.some(([e]) => e === 'invitation-ended'), 'the end event');
      expect(events.find(([e]) => e === 'invitation-ended')![1]).to.deep.include({ direction: 'in', email: 'alice@test.local', reason: 'declined' });
      cancel.abort();
      await watching;
      expect(await caller.call('chat.invitation-policy', { allow: false })).to.deep.equal({ allow: false, lanOnly: false });
      expect(bob.profile.settings['allowInboundInvitations']).to.equal(false);
    } finally {
      caller.close();
    }
  });
});
