/**
 * Invitations (spec §2.6) through the web UI's API and live events: three kernels
 * with the chat wiring and the real DHT plugin on a private DHT on 127.0.0.1, so
 * the inviter finds the invitee under its masked e-mail as it would on the internet.
 */
import { expect } from 'chai';
import { maskedEmail } from '../../../core/chat/network-id.js';
import { localDhtPluginOptions, startLocalDht, type LocalDht } from '../../helpers/local-dht.js';
import { Rendezvous } from '../../helpers/testnet.js';
import { startChatNode } from './chat-nodes.js';
import { openEvents, until } from './events.js';
import { api, type UiNode } from './ui-node.js';

const PASSWORD = 'correct horse battery';
const ALICE = 'alice@example.org';
const BOB = 'bob@example.org';
const CAROL = 'carol@example.org';

interface DhtView {
  announcedNetworks(): Buffer[];
  stats: { announces: number };
}

describe('http-ui: invitations on the real services (DHT discovery, three nodes)', function () {
  this.timeout(120_000);
  let dht: LocalDht | undefined;
  const nodes: UiNode[] = [];
  const sockets: Array<Awaited<ReturnType<typeof openEvents>>> = [];
  const safety = new Map<string, string>();

  before(async function () {
    dht = await startLocalDht(4);
    const dhtOptions = localDhtPluginOptions(dht);
    const rendezvous = new Rendezvous();
    for (let i = 0; i < 3; i++) nodes.push(await startChatNode(rendezvous.plugin(), { dht: dhtOptions }));
    if (!nodes[0]!.kernel.tryResolve('identity')) this.skip();
    for (const [node, name, email] of [[nodes[0]!, 'Alice', ALICE], [nodes[1]!, 'Bob', BOB], [nodes[2]!, 'Carol', CAROL]] as const) {
      const created = await api(node, '/api/profile', { method: 'POST', body: { name, email, password: PASSWORD } });
      expect(created.status, created.body).to.equal(200);
      safety.set(email, created.json().safetyNumber);
      sockets.push(await openEvents(node));
    }
  });
  after(async () => {
    for (const socket of sockets) socket.close();
    for (const node of nodes) await node.stop().catch(() => undefined);
    await dht?.close();
  });

  it('tells the page it has invitations, and documents the routes in the OpenAPI document', async () => {
    expect((await api(nodes[0]!, '/api/profile')).json().invitations).to.equal(true);
    const paths = Object.keys((await api(nodes[0]!, '/api/openapi.json')).json().paths);
    expect(paths).to.include.members(['/api/invitations', '/api/invitations/accept', '/api/invitations/decline', '/api/invitations/policy', '/api/invitations/outgoing', '/api/invitations/cancel']);
  });

  it('reads and sets the inbound policy; refuses an empty or unknown change', async () => {
    const bob = nodes[1]!;
    expect((await api(bob, '/api/invitations/policy')).json()).to.deep.equal({ allow: true, lanOnly: false });
    const set = await api(bob, '/api/invitations/policy', { method: 'PUT', body: { lanOnly: true } });
    expect(set.json()).to.deep.equal({ allow: true, lanOnly: true });
    expect((await api(bob, '/api/invitations/policy')).json()).to.deep.equal({ allow: true, lanOnly: true });
    expect((await api(bob, '/api/invitations/policy', { method: 'PUT', body: {} })).json().code).to.equal('ERR_UI_BAD_REQUEST');
    expect((await api(bob, '/api/invitations/policy', { method: 'PUT', body: { allow: 'yes' } })).status).to.equal(400);
    expect((await api(bob, '/api/invitations/policy', { method: 'PUT', body: { open: true } })).status).to.equal(400);
    // "LAN only" announces on the LAN only, not on the DHT the next tests find Bob on.
    expect((await api(bob, '/api/invitations/policy', { method: 'PUT', body: { lanOnly: false } })).json()).to.deep.equal({ allow: true, lanOnly: false });
  });

  it('refuses to invite into a private chat with a shared secret, with the core\'s code', async () => {
    const alice = nodes[0]!;
    const chat = await api(alice, '/api/chats', { method: 'POST', body: { kind: 'private', email: 'dave@example.org', secret: 'between us' } });
    expect(chat.status, chat.body).to.equal(200);
    const refused = await api(alice, '/api/invitations', { method: 'POST', body: { email: 'dave@example.org', text: 'hi' } });
    expect(refused.status).to.equal(400);
    expect(refused.json().code).to.equal('ERR_NODE_INVITATION_SECRET');
    expect((await api(alice, '/api/invitations', { method: 'POST', body: { email: 'not an address', text: 'hi' } })).status).to.equal(400);
    expect((await api(alice, '/api/invitations', { method: 'POST', body: { email: BOB, text: 'x'.repeat(4097) } })).status).to.equal(400);
    // Left again: the next chat reuses its chat ID and must still meet its peer (the next test).
    expect((await api(alice, `/api/chats/${chat.json().chatId}`, { method: 'DELETE' })).status).to.be.oneOf([200, 204]);
  });

  it('invites through the DHT; the invitee lists it apart with the safety number, accepts, and both chat', async () => {
    const [alice, bob] = nodes as [UiNode, UiNode];
    const bobMask = await maskedEmail(BOB);
    const bobDht = bob.kernel.resolve<DhtView>('dht');
    await until('bob announced his mask', async () => (bobDht.announcedNetworks().some((n) => n.equals(bobMask)) && bobDht.stats.announces > 0 ? true : undefined));

    const text = 'hello <b>bob</b>, it is alice';
    const invited = await api(alice, '/api/invitations', { method: 'POST', body: { email: BOB, text } });
    expect(invited.status, invited.body).to.equal(200);
    expect(invited.json()).to.include({ kind: 'private', name: BOB, online: true });
    // Every open page of alice's learns of it, and lists it among the invitations she sent.
    const sent = await sockets[0]!.waitFor((e) => e.type === 'invitation-sent');
    expect(sent.invitation).to.include({ chatId: invited.json().chatId, email: BOB });
    const event = await until('the invitation at bob', async () => sockets[1]!.events.find((e) => e.type === 'invitation'));
    const delivered = await sockets[0]!.waitFor((e) => e.type === 'invitation-delivered');
    expect(delivered.chatId).to.equal(invited.json().chatId);
    expect(delivered.endpoint).to.match(/^127\.0\.0\.1:\d+$/);
    const outgoing = (await api(alice, '/api/invitations/outgoing')).json();
    expect(outgoing).to.have.length(1);
    expect(outgoing[0]).to.include({ chatId: invited.json().chatId, email: BOB, state: 'delivered', deliveries: 1 });
    expect(outgoing[0].since).to.be.a('number');
    expect(outgoing[0].deliveredAt).to.be.at.least(outgoing[0].since);

    const pending = (await api(bob, '/api/invitations')).json();
    expect(pending).to.have.length(1);
    expect(pending[0]).to.deep.include({ email: ALICE, name: 'Alice', text, safetyNumber: safety.get(ALICE) });
    expect(event.invitation).to.deep.equal(pending[0]);
    // Until accepted it is an offline chat with no history.
    const offline = (await api(bob, '/api/chats')).json().find((c: { chatId: number }) => c.chatId === pending[0].chatId);
    expect(offline).to.include({ kind: 'private', online: false });
    expect((await api(bob, `/api/chats/${pending[0].chatId}/messages`)).json().messages).to.deep.equal([]);

    const accepted = await api(bob, '/api/invitations/accept', { method: 'POST', body: { email: ALICE } });
    expect(accepted.status, accepted.body).to.equal(200);
    expect(accepted.json()).to.include({ chatId: pending[0].chatId, online: true });
    expect((await api(bob, '/api/invitations')).json()).to.deep.equal([]);
    expect(await sockets[1]!.waitFor((e) => e.type === 'invitation-ended')).to.deep.equal({ type: 'invitation-ended', chatId: pending[0].chatId, direction: 'in', email: ALICE, reason: 'accepted' });
    const again = await api(bob, '/api/invitations/accept', { method: 'POST', body: { email: ALICE } });
    expect(again.status).to.equal(404);
    expect(again.json().code).to.equal('ERR_NODE_INVITATION_NOT_FOUND');

    const a = invited.json().chatId as number;
    const b = accepted.json().chatId as number;
    await until('alice and bob meet', async () => ((await api(alice, `/api/chats/${a}/members`)).json().some((m: { identity: string; online: boolean }) => m.identity === BOB && m.online) ? true : undefined));
    expect((await api(alice, `/api/chats/${a}/messages`, { method: 'POST', body: { text: 'welcome' } })).status).to.equal(200);
    expect((await api(bob, `/api/chats/${b}/messages`, { method: 'POST', body: { text: 'thanks' } })).status).to.equal(200);
    const texts = async (node: UiNode, chatId: number): Promise<string[] | undefined> => {
      const all = ((await api(node, `/api/chats/${chatId}/messages`)).json().messages as Array<{ text: string }>).map((m) => m.text).sort();
      return all.length === 3 ? all : undefined;
    };
    expect(await until('three messages at bob', () => texts(bob, b))).to.deep.equal([text, 'thanks', 'welcome']);
    expect(await until('three messages at alice', () => texts(alice, a))).to.deep.equal([text, 'thanks', 'welcome']);
    // Answered: it left alice's list, and her pages were told.
    expect(await sockets[0]!.waitFor((e) => e.type === 'invitation-ended')).to.deep.equal({ type: 'invitation-ended', chatId: a, direction: 'out', email: BOB, reason: 'joined' });
    expect((await api(alice, '/api/invitations/outgoing')).json()).to.deep.equal([]);
  });

  it('declines: the pending invitation and its offline chat are deleted', async () => {
    const [, bob, carol] = nodes as [UiNode, UiNode, UiNode];
    expect((await api(carol, '/api/invitations', { method: 'POST', body: { email: BOB, text: 'carol here' } })).status).to.equal(200);
    const pending = await until('carol\'s invitation at bob', async () => (await api(bob, '/api/invitations')).json().find((i: { email: string }) => i.email === CAROL));
    expect(pending).to.include({ text: 'carol here', safetyNumber: safety.get(CAROL) });
    expect((await api(bob, '/api/invitations/decline', { method: 'POST', body: { email: CAROL } })).json()).to.deep.equal({ ok: true });
    expect((await api(bob, '/api/invitations')).json()).to.deep.equal([]);
    expect((await api(bob, '/api/chats')).json().map((c: { chatId: number }) => c.chatId)).not.to.include(pending.chatId);
    expect((await api(bob, '/api/invitations/decline', { method: 'POST', body: { email: CAROL } })).status).to.equal(404);
    expect(await sockets[1]!.waitFor((e) => e.type === 'invitation-ended' && e.email === CAROL)).to.include({ direction: 'in', reason: 'declined' });

    // Carol is not told of the decline: hers stays listed as delivered until she cancels it.
    const listed = await until('carol sees it delivered', async () => (await api(carol, '/api/invitations/outgoing')).json().find((o: { state: string }) => o.state === 'delivered'));
    expect(listed).to.include({ email: BOB, deliveries: 1 });
    expect((await api(carol, '/api/invitations/cancel', { method: 'POST', body: { email: BOB } })).json()).to.deep.equal({ ok: true });
    expect(await sockets[2]!.waitFor((e) => e.type === 'invitation-ended')).to.include({ direction: 'out', email: BOB, reason: 'cancelled' });
    expect((await api(carol, '/api/invitations/outgoing')).json()).to.deep.equal([]);
    const again = await api(carol, '/api/invitations/cancel', { method: 'POST', body: { email: BOB } });
    expect(again.status).to.equal(404);
    expect(again.json().code).to.equal('ERR_NODE_INVITATION_NOT_FOUND');
    expect((await api(carol, '/api/invitations/cancel', { method: 'POST', body: { email: 'not an address' } })).status).to.equal(400);
  });
});
