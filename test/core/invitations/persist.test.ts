import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { maskedEmail } from '../../../core/chat/network-id.js';
import { loadProfile } from '../../../core/identity/profile.js';
import type { Profile } from '../../../core/identity/profile.js';
import { Kernel } from '../../../core/kernel.js';
import { createLogger } from '../../../core/logger.js';
import type { ChatNode } from '../../../core/node/chat-node.js';
import { ERR_NODE_INVITATION_STORED, NodeError } from '../../../core/node/errors.js';
import { IdentityService } from '../../../core/node/identity-service.js';
import {
  decodeOutgoingRecord,
  type InvitationEnd,
  MAX_INVITATION_TEXT_BYTES,
  MAX_OUTGOING_AGE_MS,
  MAX_OUTGOING_INVITATIONS,
  OUTGOING_INVITATIONS_SETTING,
  type OutgoingInvitation,
  type OutgoingRecord,
} from '../../../core/node/invitations.js';
import type { InlinePlugin } from '../../../core/plugin-loader.js';
import dhtPlugin from '../../../plugins/dht/index.js';
import { testConfig } from '../../helpers/kernel.js';
import { localDhtPluginOptions, startLocalDht, type LocalDht } from '../../helpers/local-dht.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { Testnet, testProfile, type TestPeer, waitFor } from '../../helpers/testnet.js';

const ALICE = 'alice@test.local';
const BOB = 'bob@test.local';
const CAROL = 'carol@test.local';
const PASSWORD = 'correct horse battery';
/** The lowest KDF cost a profile file accepts. */
const ITERATIONS = 200_000;
const LOOKUP_MS = 500;
const FUZZ_CASES = 3000;

/** Every file under `dir` that holds `needle` (bytes). */
function filesHolding(dir: string, needle: Buffer): string[] {
  const hits: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path);
    if (st.isDirectory()) hits.push(...filesHolding(path, needle));
    else if (st.isFile() && readFileSync(path).includes(needle)) hits.push(path);
  }
  return hits;
}

/**
 * The inviter: a kernel on its own data folder whose profile is a real password-protected
 * file there (the testnet's peers keep theirs in memory). The first boot takes `profile`
 * and writes the file; later boots unlock the file, so what survives is what was saved.
 */
class Inviter {
  readonly dir = makeTempDir('bitchat-invite-persist-');
  readonly profilePath = join(this.dir.path, 'alice.profile');
  readonly logs: string[] = [];
  kernel: Kernel | undefined;

  constructor(private readonly plugins: () => InlinePlugin[]) {}

  get chat(): ChatNode {
    return this.kernel!.resolve('chat');
  }

  async boot(profile?: Profile): Promise<ChatNode> {
    const kernel = await Kernel.create({
      config: testConfig(this.dir.path, { profile: this.profilePath }),
      logger: createLogger('warn', { write: (line: string) => void this.logs.push(line) }),
      plugins: this.plugins(),
      control: false,
      profileIterations: ITERATIONS,
      invitationLookupMs: LOOKUP_MS,
      ...(profile ? { profile, profilePassword: PASSWORD } : {}),
    });
    this.kernel = kernel;
    await kernel.start();
    if (!profile) await kernel.resolve<IdentityService>('identity').unlock(PASSWORD);
    return this.chat;
  }

  async stop(): Promise<void> {
    await this.kernel?.stop();
    this.kernel = undefined;
  }

  /** The outgoing invitations as the profile file holds them. */
  async stored(): Promise<OutgoingRecord[]> {
    const saved = await loadProfile(this.profilePath, PASSWORD);
    return (saved.settings[OUTGOING_INVITATIONS_SETTING] ?? []) as OutgoingRecord[];
  }

  async close(): Promise<void> {
    await this.stop().catch(() => undefined);
    this.dir.cleanup();
  }
}

function endpointOf(p: TestPeer): { host: string; port: number } {
  return { host: '127.0.0.1', port: p.kernel.connections.localPort };
}

describe('outgoing invitations survive a restart of the inviter (kept in the encrypted profile)', function () {
  this.timeout(90_000);
  let net: Testnet | undefined;
  let dht: LocalDht | undefined;
  let inviter: Inviter | undefined;

  afterEach(async () => {
    await inviter?.close();
    inviter = undefined;
    await net?.stop();
    net = undefined;
    await dht?.close();
    dht = undefined;
  });

  it('an inviter restarted between invite and the invitee coming online still delivers (real DHT); the text is nowhere in clear', async () => {
    dht = await startLocalDht(4);
    const dhtOptions = localDhtPluginOptions(dht);
    net = new Testnet();
    net.extraPlugins = () => [{ definition: dhtPlugin, options: dhtOptions }];
    const rendezvous = net.rendezvous;
    inviter = new Inviter(() => [rendezvous.plugin(), { definition: dhtPlugin, options: dhtOptions }]);
    const text = `see you at the usual place ${randomBytes(8).toString('hex')}`;

    let alice = await inviter.boot(await testProfile(ALICE, 0));
    const sent: OutgoingInvitation[] = [];
    alice.on('invitation-sent', (o: OutgoingInvitation) => sent.push(o));
    const a = await alice.invite(BOB, text);
    expect(sent.map((o) => [o.chatId, o.email, o.state])).to.deep.equal([[a.chatId, BOB, 'looking']]);
    expect(alice.outgoingInvitations()).to.deep.equal([sent[0]]);
    await inviter.stop();

    // Saved: the file (decrypted) lists it without its text; no file holds the text in clear.
    const stored = await inviter.stored();
    expect(stored.map((r) => [r.chatId, r.email, r.deliveries])).to.deep.equal([[a.chatId, BOB, 0]]);
    expect(JSON.stringify(stored)).to.not.include(text);
    expect(filesHolding(inviter.dir.path, Buffer.from(text))).to.deep.equal([]);
    // The search does read the store: the chat's name (bob's e-mail) is kept in clear there.
    expect(filesHolding(inviter.dir.path, Buffer.from(BOB))).to.not.deep.equal([]);

    // Bob comes online while alice is down; then alice starts again from her file.
    const bob = await net.addPeer(BOB, 1);
    const bobMask = await maskedEmail(BOB);
    const bobDht = bob.kernel.resolve('dht');
    await waitFor(() => bobDht.announcedNetworks().some((n) => n.equals(bobMask)) && bobDht.stats.announces > 0, 'bob announced his mask');
    alice = await inviter.boot();
    expect(alice.outgoingInvitations().map((o) => [o.chatId, o.email, o.state, o.since])).to.deep.equal([[a.chatId, BOB, 'looking', sent[0]!.since]]);
    const ended: InvitationEnd[] = [];
    alice.on('invitation-ended', (e: InvitationEnd) => ended.push(e));

    await waitFor(() => bob.chat.pendingInvitations().length === 1, 'bob receives the invitation from the restarted alice', 30_000);
    expect(bob.chat.pendingInvitations()[0]!.text).to.equal(text);
    await waitFor(() => alice.outgoingInvitations()[0]?.state === 'delivered', 'alice sees it delivered');
    expect(alice.outgoingInvitations()[0]!.deliveries).to.equal(1);

    const b = await bob.chat.acceptInvitation(ALICE);
    await waitFor(() => alice.members(a.chatId).some((m) => m.identity === BOB && m.online), 'they meet', 30_000);
    // Answered: no longer listed, no longer kept.
    await waitFor(() => ended.length === 1, 'the invitation ends');
    expect(ended).to.deep.equal([{ chatId: a.chatId, direction: 'out', email: BOB, reason: 'joined' }]);
    expect(alice.outgoingInvitations()).to.deep.equal([]);
    expect(bob.chat.history(b.chatId).messages.map((m) => m.text)).to.deep.equal([text]);
    await inviter.stop();
    expect(await inviter.stored()).to.deep.equal([]);
    expect(filesHolding(inviter.dir.path, Buffer.from(text))).to.deep.equal([]);
  });

  it('a cancelled invitation is not resumed nor delivered; the one kept beside it is', async () => {
    net = await Testnet.start(2, [BOB, CAROL]);
    const [bob, carol] = net.peers as [TestPeer, TestPeer];
    const rendezvous = net.rendezvous;
    inviter = new Inviter(() => [rendezvous.plugin()]);
    let alice = await inviter.boot(await testProfile(ALICE, 2));
    await alice.invite(BOB, 'cancel me');
    const c = await alice.invite(CAROL, 'keep me');
    const ended: InvitationEnd[] = [];
    alice.on('invitation-ended', (e: InvitationEnd) => ended.push(e));
    await alice.cancelInvitation(BOB);
    expect(ended.map((e) => [e.email, e.reason])).to.deep.equal([[BOB, 'cancelled']]);
    expect(alice.outgoingInvitations().map((o) => o.email)).to.deep.equal([CAROL]);
    let code: string | undefined;
    await alice.cancelInvitation(BOB).catch((e: { code?: string }) => (code = e.code));
    expect(code).to.equal('ERR_NODE_INVITATION_NOT_FOUND');
    await inviter.stop();
    expect((await inviter.stored()).map((r) => r.email)).to.deep.equal([CAROL]);

    alice = await inviter.boot();
    alice.on('invitation-ended', (e: InvitationEnd) => ended.push(e));
    expect(alice.outgoingInvitations().map((o) => [o.chatId, o.email])).to.deep.equal([[c.chatId, CAROL]]);
    // What the DHT would report for both masks: only carol's invitation is under way.
    alice.peerDiscovered(await maskedEmail(BOB), endpointOf(bob));
    alice.peerDiscovered(await maskedEmail(CAROL), endpointOf(carol));
    await waitFor(() => carol.chat.pendingInvitations().length === 1, 'carol receives hers');
    await waitFor(() => alice.stats.invitations.deliveries === 1, 'alice counts the delivery');
    expect(alice.stats.invitations.deliveryFailures).to.equal(0);
    expect(bob.chat.pendingInvitations()).to.deep.equal([]);
    expect(bob.chat.stats.invitations.inboundAccepted).to.equal(0);

    // Leaving the chat drops the invitation too.
    await alice.leave(c.chatId);
    expect(alice.outgoingInvitations()).to.deep.equal([]);
    expect(ended.map((e) => [e.email, e.reason])).to.deep.equal([
      [BOB, 'cancelled'],
      [CAROL, 'left'],
    ]);
    await inviter.stop();
    expect(await inviter.stored()).to.deep.equal([]);
  });

  it('the invitee accepted while the inviter was down: after its restart they meet and the invitation is no longer kept', async () => {
    net = await Testnet.start(1, [BOB]);
    const [bob] = net.peers as [TestPeer];
    const rendezvous = net.rendezvous;
    inviter = new Inviter(() => [rendezvous.plugin()]);
    let alice = await inviter.boot(await testProfile(ALICE, 2));
    const a = await alice.invite(BOB, 'answer me later');
    alice.peerDiscovered(await maskedEmail(BOB), endpointOf(bob));
    await waitFor(() => alice.outgoingInvitations()[0]?.state === 'delivered', 'delivered');
    await inviter.stop();
    expect((await inviter.stored()).map((r) => [r.email, r.deliveries])).to.deep.equal([[BOB, 1]]);

    await bob.chat.acceptInvitation(ALICE);
    alice = await inviter.boot();
    await waitFor(() => alice.members(a.chatId).some((m) => m.identity === BOB && m.online), 'they meet');
    await waitFor(() => alice.outgoingInvitations().length === 0, 'the invitation ends');
    await inviter.stop();
    expect(await inviter.stored()).to.deep.equal([]);
  });

  it('skips corrupt, oversized and stale stored entries with a typed error in the log (no e-mail, no text), and resumes the good one', async () => {
    net = await Testnet.start(1, [BOB]);
    inviter = new Inviter(() => []);
    const text = `kept ${randomBytes(8).toString('hex')}`;
    const alice = await inviter.boot(await testProfile(ALICE, 2));
    const a = await alice.invite(BOB, text);
    // A message too long for an invitation, in the same chat: an entry pointing at it is refused.
    const long = alice.send(a.chatId, 'y'.repeat(MAX_INVITATION_TEXT_BYTES + 1));
    const other = await alice.createGroup('elsewhere');
    const profile = inviter.kernel!.resolve<IdentityService>('identity').profile!;
    const [good] = profile.settings[OUTGOING_INVITATIONS_SETTING] as OutgoingRecord[];
    const bad: unknown[] = [
      42,
      null,
      'bob@test.local',
      [good],
      { ...good, chatId: -1 },
      { ...good, chatId: 1.5 },
      { ...good, networkId: 'zz'.repeat(20) },
      { ...good, networkId: other.networkId.toString('hex') },
      { ...good, chatId: other.chatId, networkId: other.networkId.toString('hex') },
      { ...good, email: 'x'.repeat(1_000_000) },
      { ...good, email: 'Bob@Test.Local' },
      { ...good, messageId: randomBytes(16).toString('hex') },
      { ...good, messageId: long.id.toString('hex') },
      { ...good, since: 'yesterday' },
      { ...good, deliveries: 1e12 },
      { ...good, deliveredAt: -5 },
      { ...good },
    ];
    const filler = Array.from({ length: MAX_OUTGOING_INVITATIONS + 6 - 1 - bad.length }, () => ({}));
    await inviter.stop();
    // Written into the profile file as a foreign or damaged build might have left it.
    profile.settings[OUTGOING_INVITATIONS_SETTING] = [good, ...bad, ...filler];
    const seen = inviter.logs.length;
    const resumed = await inviter.boot(profile);
    expect(resumed.outgoingInvitations().map((o) => [o.chatId, o.email])).to.deep.equal([[a.chatId, BOB]]);
    const warnings = inviter.logs.slice(seen).map((l) => JSON.parse(l) as { code?: string; msg: string });
    const skipped = warnings.filter((w) => w.msg === 'a stored outgoing invitation was skipped');
    expect(skipped).to.have.length(MAX_OUTGOING_INVITATIONS - 1);
    expect(skipped.every((w) => w.code === ERR_NODE_INVITATION_STORED)).to.equal(true);
    expect(warnings.some((w) => w.msg.startsWith(`more than ${MAX_OUTGOING_INVITATIONS} stored`))).to.equal(true);
    for (const l of inviter.logs) {
      expect(l).to.not.include(BOB);
      expect(l).to.not.include(text);
    }
    // The stored list is clean again.
    expect((profile.settings[OUTGOING_INVITATIONS_SETTING] as OutgoingRecord[]).map((r) => r.chatId)).to.deep.equal([a.chatId]);

    // One sent more than 30 days ago and never delivered ends ('expired') at its first round.
    await inviter.stop();
    const [kept] = profile.settings[OUTGOING_INVITATIONS_SETTING] as OutgoingRecord[];
    profile.settings[OUTGOING_INVITATIONS_SETTING] = [{ ...kept!, since: Date.now() - MAX_OUTGOING_AGE_MS - 60_000 }];
    const old = await inviter.boot(profile);
    expect(old.outgoingInvitations()).to.deep.equal([]);
    await waitFor(() => (profile.settings[OUTGOING_INVITATIONS_SETTING] as unknown[]).length === 0, 'the expired one dropped from the profile');
    // The chat and its first message stay.
    expect(old.history(a.chatId).messages.map((m) => m.text)).to.include(text);

    // A value that is not even a list.
    await inviter.stop();
    profile.settings[OUTGOING_INVITATIONS_SETTING] = 'garbage';
    const again = await inviter.boot(profile);
    expect(again.outgoingInvitations()).to.deep.equal([]);
    expect(profile.settings[OUTGOING_INVITATIONS_SETTING]).to.deep.equal([]);
  });

  it('profile saves land in call order: the last state wins even when saves overlap (a cancel is not undone by an older save)', async () => {
    const dir = makeTempDir('bitchat-save-order-');
    try {
      const path = join(dir.path, 'p.profile');
      const identity = new IdentityService({ path, onUnlock: async () => undefined, onLock: async () => undefined, iterations: ITERATIONS });
      const profile = await testProfile(ALICE, 2);
      await identity.use(profile, PASSWORD);
      for (let i = 0; i < 6; i++) {
        profile.settings['step'] = `${i}-a`;
        const first = identity.persist();
        profile.settings['step'] = `${i}-b`;
        await Promise.all([first, identity.persist()]);
        expect((await loadProfile(path, PASSWORD)).settings['step']).to.equal(`${i}-b`);
      }
      // A stopping node waits for a save still under way.
      profile.settings['step'] = 'last';
      void identity.persist();
      await identity.lock();
      expect((await loadProfile(path, PASSWORD)).settings['step']).to.equal('last');
    } finally {
      dir.cleanup();
    }
  });

  it('decodeOutgoingRecord: mutated records give the record or ERR_NODE_INVITATION_STORED, nothing else (fuzz)', () => {
    const good: OutgoingRecord = { chatId: 7, networkId: 'ab'.repeat(20), email: BOB, messageId: 'cd'.repeat(16), since: Date.now(), deliveries: 2, deliveredAt: Date.now() };
    expect(decodeOutgoingRecord(good)).to.deep.equal(good);
    const values: unknown[] = [undefined, null, true, 0, -1, 1.5, NaN, Infinity, 2 ** 60, '', 'x', 'ab'.repeat(20), 'AB'.repeat(20), 'cd'.repeat(16), BOB, 'BOB@test.local', 'no-at', '@', [], {}, { a: 1 }, 'y'.repeat(70_000)];
    const keys = [...Object.keys(good), 'extra'];
    let accepted = 0;
    for (let i = 0; i < FUZZ_CASES; i++) {
      const r: Record<string, unknown> = { ...good };
      for (let k = 0; k <= i % 3; k++) {
        const key = keys[randomBytes(1)[0]! % keys.length]!;
        const v = values[randomBytes(1)[0]! % values.length];
        if (v === undefined && randomBytes(1)[0]! % 2 === 0) delete r[key];
        else r[key] = v;
      }
      try {
        const out = decodeOutgoingRecord(i % 50 === 0 ? values[i % values.length] : r);
        accepted++;
        expect(out.chatId).to.be.a('number');
        expect(out.email).to.equal(out.email.toLowerCase());
      } catch (err) {
        expect(err).to.be.instanceOf(NodeError);
        expect((err as NodeError).code).to.equal(ERR_NODE_INVITATION_STORED);
      }
    }
    expect(accepted).to.be.greaterThan(0);
  });
});
