/**
 * The API and its live events on the real services: two kernels with the chat
 * wiring talk to each other over 127.0.0.1; everything below goes through the
 * web UI's HTTP routes and WebSocket only.
 */
import { expect } from 'chai';
import { Rendezvous } from '../../helpers/testnet.js';
import { startChatNode } from './chat-nodes.js';
import { openEvents, until } from './events.js';
import { api, type UiNode } from './ui-node.js';

const PASSWORD = 'correct horse battery';

describe('http-ui: the API on the real identity and chat services (two nodes)', function () {
  this.timeout(120_000);
  const nodes: UiNode[] = [];
  const sockets: Array<Awaited<ReturnType<typeof openEvents>>> = [];

  before(async function () {
    const rendezvous = new Rendezvous();
    nodes.push(await startChatNode(rendezvous.plugin()), await startChatNode(rendezvous.plugin()));
    if (!nodes[0]!.kernel.tryResolve('identity')) this.skip();
    for (const node of nodes) sockets.push(await openEvents(node));
  });
  after(async () => {
    for (const socket of sockets) socket.close();
    for (const node of nodes) await node.stop().catch(() => undefined);
  });

  it('creates, locks and unlocks real profiles, with progress pushed while the key is made', async () => {
    const [alice, bob] = nodes as [UiNode, UiNode];
    expect((await api(alice, '/api/profile')).json()).to.deep.include({ available: true, status: { state: 'none' }, chat: false });
    const created = await api(alice, '/api/profile', { method: 'POST', body: { name: 'Alice', email: 'alice@example.org', password: PASSWORD } });
    expect(created.status, created.body).to.equal(200);
    expect(created.json()).to.include({ state: 'unlocked', email: 'alice@example.org', name: 'Alice' });
    expect(created.json().safetyNumber).to.be.a('string');
    const phases = sockets[0]!.events.filter((e) => e.type === 'profile-progress' && e.progress.phase).map((e) => `${e.progress.phase}:${e.progress.state}`);
    expect(phases).to.include.members(['keygen:start', 'keygen:done', 'kdf:start', 'kdf:done']);
    expect(JSON.stringify(sockets[0]!.events)).not.to.include(PASSWORD);

    expect((await api(alice, '/api/profile/lock', { method: 'POST' })).json().state).to.equal('locked');
    expect((await api(alice, '/api/chats')).json().code).to.equal('ERR_UI_LOCKED');
    const wrong = await api(alice, '/api/profile/unlock', { method: 'POST', body: { password: 'not the password' } });
    expect(wrong.status).to.equal(403);
    expect(wrong.json().code).to.equal('ERR_PROFILE_BAD_PASSWORD');
    expect((await api(alice, '/api/profile/unlock', { method: 'POST', body: { password: PASSWORD } })).json().state).to.equal('unlocked');
    expect((await api(alice, '/api/profile')).json().chat).to.equal(true);

    const again = await api(alice, '/api/profile', { method: 'POST', body: { name: 'Alice', email: 'alice@example.org', password: PASSWORD } });
    expect(again.status).to.equal(400);
    expect((await api(bob, '/api/profile', { method: 'POST', body: { name: 'Bob', email: 'bob@example.org', password: PASSWORD } })).status).to.equal(200);
  });

  it('joins one group on both nodes; members come online with safety numbers; a message arrives with its delivery', async () => {
    const [alice, bob] = nodes as [UiNode, UiNode];
    const a = (await api(alice, '/api/chats', { method: 'POST', body: { kind: 'group', name: 'Team', secret: 'open sesame' } })).json();
    const b = (await api(bob, '/api/chats', { method: 'POST', body: { kind: 'group', name: 'Team', secret: 'open sesame' } })).json();
    expect(a).to.include({ kind: 'group', name: 'Team', online: true });

    const bobSeen = await until('bob online at alice', async () => {
      const members = (await api(alice, `/api/chats/${a.chatId}/members`)).json() as Array<{ identity: string; online: boolean; safetyNumber: string | null }>;
      return members.find((m) => m.identity === 'bob@example.org' && m.online && m.safetyNumber);
    });
    const bobStatus = (await api(bob, '/api/profile')).json().status;
    expect(bobSeen.safetyNumber).to.be.a('string').and.not.equal('');
    expect(bobStatus.safetyNumber).to.be.a('string');
    await sockets[0]!.waitFor((e) => e.type === 'member' && e.chatId === a.chatId && e.member.identity === 'bob@example.org');
    await until('mesh full at alice', async () => ((await api(alice, '/api/chats')).json()[0].meshStatus === 'full' ? true : undefined));
    expect((await api(alice, '/api/chats')).json()[0].onlineMembers).to.equal(1);

    const sent = (await api(alice, `/api/chats/${a.chatId}/messages`, { method: 'POST', body: { text: 'hello <b>bob</b>' } })).json();
    expect(sent).to.include({ outgoing: true, text: 'hello <b>bob</b>', sender: 'alice@example.org' });
    const arrived = await sockets[1]!.waitFor((e) => e.type === 'message' && e.message.id === sent.id);
    expect(arrived.chatId).to.equal(b.chatId);
    expect(arrived.message).to.include({ text: 'hello <b>bob</b>', sender: 'alice@example.org', outgoing: false });
    const delivery = await sockets[0]!.waitFor((e) => e.type === 'delivery' && e.id === sent.id);
    expect(delivery).to.deep.equal({ type: 'delivery', chatId: a.chatId, id: sent.id, recipient: 'bob@example.org' });

    // Bob's list counts it as unread until his page opens the chat.
    expect((await api(bob, '/api/chats')).json()[0].unread).to.equal(1);
    const page = (await api(bob, `/api/chats/${b.chatId}/messages`)).json();
    expect(page.messages.map((m: { text: string }) => m.text)).to.deep.equal(['hello <b>bob</b>']);
    expect((await api(bob, '/api/chats')).json()[0].unread).to.equal(0);
    // Alice's history shows the delivery too.
    const history = (await api(alice, `/api/chats/${a.chatId}/messages`)).json();
    expect(history.messages[0]).to.deep.include({ id: sent.id, deliveredTo: ['bob@example.org'], pendingTo: [] });

    // Typing and search, end to end.
    await api(bob, `/api/chats/${b.chatId}/typing`, { method: 'POST' });
    expect(await sockets[0]!.waitFor((e) => e.type === 'typing')).to.deep.equal({ type: 'typing', chatId: a.chatId, identity: 'bob@example.org' });
    expect((await api(bob, '/api/search?q=bob')).json().hits.map((m: { id: string }) => m.id)).to.deep.equal([sent.id]);
  });

  it('keeps unread counts in its own table: they survive a restart, and reading clears them', async () => {
    const [alice, bob] = nodes as [UiNode, UiNode];
    const a = (await api(alice, '/api/chats')).json()[0];
    const b = (await api(bob, '/api/chats')).json()[0];
    for (const text of ['one for later', 'two for later']) {
      expect((await api(alice, `/api/chats/${a.chatId}/messages`, { method: 'POST', body: { text } })).status).to.equal(200);
    }
    await until('two unread at bob', async () => ((await api(bob, '/api/chats')).json()[0].unread === 2 ? true : undefined));

    sockets[1]!.close();
    await bob.restart();
    sockets[1] = await openEvents(bob);
    expect((await api(bob, '/api/profile/unlock', { method: 'POST', body: { password: PASSWORD } })).status).to.equal(200);
    expect((await api(bob, '/api/chats')).json()[0]).to.include({ chatId: b.chatId, unread: 2 });

    // Opening the chat (its newest page) reads it.
    const page = (await api(bob, `/api/chats/${b.chatId}/messages?limit=1`)).json();
    expect(page.messages[0].text).to.equal('two for later');
    expect((await api(bob, '/api/chats')).json()[0].unread).to.equal(0);
    // Bob's node is new: its mesh is full only once its session with Alice is up (Alice's may still show the old one).
    await until('bob connected to alice again', async () => ((await api(bob, '/api/chats')).json()[0].meshStatus === 'full' ? true : undefined));
    const sent = (await api(alice, `/api/chats/${a.chatId}/messages`, { method: 'POST', body: { text: 'seen live' } })).json();
    const live = await sockets[1]!.waitFor((e) => e.type === 'message' && e.message.id === sent.id);
    expect((await api(bob, '/api/chats')).json()[0].unread).to.equal(1);
    // The open page reports a live message it showed.
    const read = await api(bob, `/api/chats/${b.chatId}/read`, { method: 'POST', body: { seq: live.message.seq } });
    expect(read.json()).to.deep.equal({ ok: true });
    expect((await api(bob, '/api/chats')).json()[0].unread).to.equal(0);
    // An older marker does not clear a newer message.
    const newer = (await api(alice, `/api/chats/${a.chatId}/messages`, { method: 'POST', body: { text: 'not seen yet' } })).json();
    await sockets[1]!.waitFor((e) => e.type === 'message' && e.message.id === newer.id);
    await api(bob, `/api/chats/${b.chatId}/read`, { method: 'POST', body: { seq: live.message.seq } });
    expect((await api(bob, '/api/chats')).json()[0].unread).to.equal(1);
  });

  it('leaves a chat', async () => {
    const [alice] = nodes as [UiNode, UiNode];
    const chatId = (await api(alice, '/api/chats')).json()[0].chatId;
    expect((await api(alice, `/api/chats/${chatId}`, { method: 'DELETE' })).json()).to.deep.equal({ ok: true });
    expect((await api(alice, '/api/chats')).json()).to.deep.equal([]);
  });
});
