import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { contractPlugin, FAKE_SAFETY_NUMBER } from './contract-plugin.js';
import { openEvents } from './events.js';
import { api, startUiNode, type UiNode } from './ui-node.js';

const PASSWORD = 'correct horse battery';

describe('http-ui: API routes against the identity / chat contract', () => {
  let node: UiNode;
  let stand: ReturnType<typeof contractPlugin>;
  let events: Awaited<ReturnType<typeof openEvents>>;
  let groupId: number;

  before(async () => {
    stand = contractPlugin();
    node = await startUiNode([{ definition: stand.definition }], { 'file-share': {} });
    events = await openEvents(node);
  });
  after(async () => {
    events?.close();
    await node?.stop();
  });

  it('reports a node whose profile does not exist yet, and refuses chats until it is unlocked', async () => {
    const res = await api(node, '/api/profile');
    expect(res.json()).to.deep.equal({ available: true, status: { state: 'none' }, chat: false, invitations: false, fileShare: true, registration: null, certificate: null });
    const chats = await api(node, '/api/chats');
    expect(chats.status).to.equal(409);
    expect(chats.json().code).to.equal('ERR_UI_LOCKED');
  });

  it('validates the first-run form with the route schema', async () => {
    for (const body of [{}, { name: 'A', email: 'not-an-email', password: PASSWORD }, { name: 'A', email: 'a@example.org', password: 'short' }, { name: 'A', email: 'a@example.org', password: PASSWORD, extra: 1 }]) {
      const res = await api(node, '/api/profile', { method: 'POST', body });
      expect(res.status, JSON.stringify(body)).to.equal(400);
      expect(res.json().code).to.equal('ERR_UI_BAD_REQUEST');
    }
  });

  it('creates a self-issued profile, pushing progress while the key is made, and never echoes the password', async () => {
    const res = await api(node, '/api/profile', { method: 'POST', body: { name: 'Alice', email: 'Alice@Example.org', password: PASSWORD } });
    expect(res.status).to.equal(200);
    expect(res.json()).to.deep.include({ state: 'unlocked', email: 'alice@example.org', name: 'Alice', safetyNumber: FAKE_SAFETY_NUMBER });
    expect(res.body).not.to.include(PASSWORD);
    const steps = events.events.filter((e) => e.type === 'profile-progress' && e.progress.phase).map((e) => `${e.progress.phase}:${e.progress.state}`);
    // Ticks may be thinned out; every phase's start and end arrive, in order.
    expect(steps.filter((s: string) => !s.endsWith(':tick'))).to.deep.equal(['keygen:start', 'keygen:done', 'kdf:start', 'kdf:done']);
    expect(steps.some((s: string) => s.endsWith(':tick'))).to.equal(true);
    await events.waitFor((e) => e.type === 'profile-progress' && e.progress.done === true);
    await events.waitFor((e) => e.type === 'identity' && e.status.state === 'unlocked');
    expect(JSON.stringify(events.events)).not.to.include(PASSWORD);
  });

  it('locks, refuses a wrong password, and unlocks with the right one', async () => {
    expect((await api(node, '/api/profile/lock', { method: 'POST' })).json().state).to.equal('locked');
    await events.waitFor((e) => e.type === 'identity' && e.status.state === 'locked');
    expect((await api(node, '/api/chats')).status).to.equal(409);
    const wrong = await api(node, '/api/profile/unlock', { method: 'POST', body: { password: 'wrong password' } });
    expect(wrong.status, wrong.body).to.equal(403);
    expect(wrong.json().code).to.equal('ERR_IDENTITY_BAD_PASSWORD');
    const right = await api(node, '/api/profile/unlock', { method: 'POST', body: { password: PASSWORD } });
    expect(right.json().state).to.equal('unlocked');
    expect((await api(node, '/api/profile')).json().chat).to.equal(true);
  });

  it('joins a group and starts a private chat; bad requests are refused with a code', async () => {
    const group = await api(node, '/api/chats', { method: 'POST', body: { kind: 'group', name: 'Friends', secret: 's3cret' } });
    expect(group.status).to.equal(200);
    expect(group.json()).to.deep.include({ kind: 'group', name: 'Friends', online: true, unread: 0, meshStatus: 'none' });
    groupId = group.json().chatId;
    const direct = await api(node, '/api/chats', { method: 'POST', body: { kind: 'private', email: 'bob@example.org' } });
    expect(direct.json()).to.deep.include({ kind: 'private', name: 'bob@example.org' });
    const self = await api(node, '/api/chats', { method: 'POST', body: { kind: 'private', email: 'alice@example.org' } });
    expect(self.status).to.equal(400);
    expect(self.json().code).to.equal('ERR_CHAT_BAD_INPUT');
    for (const body of [{ kind: 'group' }, { kind: 'private', name: 'x' }, { kind: 'channel', name: 'x' }, { kind: 'group', name: 'x', secret: 'y'.repeat(2000) }]) {
      expect((await api(node, '/api/chats', { method: 'POST', body })).status, JSON.stringify(body)).to.equal(400);
    }
    const list = (await api(node, '/api/chats')).json() as Array<{ name: string }>;
    expect(list.map((c) => c.name)).to.have.members(['Friends', 'bob@example.org']);
  });

  it('sends messages and pages history newest first with a cursor', async () => {
    const sent = [];
    for (const text of ['one', 'two', '<img src=x onerror=alert(1)> three']) {
      const res = await api(node, `/api/chats/${groupId}/messages`, { method: 'POST', body: { text } });
      expect(res.status).to.equal(200);
      sent.push(res.json());
    }
    expect(sent[2]).to.deep.include({ outgoing: true, sender: 'alice@example.org', text: '<img src=x onerror=alert(1)> three', chatId: groupId });
    expect(sent[2].id).to.match(/^[0-9a-f]+$/);
    const first = (await api(node, `/api/chats/${groupId}/messages?limit=2`)).json();
    expect(first.messages[0].deliveredTo).to.deep.equal([]);
    expect(first.messages.map((m: { text: string }) => m.text)).to.deep.equal(['<img src=x onerror=alert(1)> three', 'two']);
    expect(first.next).to.be.a('string');
    const second = (await api(node, `/api/chats/${groupId}/messages?limit=2&before=${encodeURIComponent(first.next)}`)).json();
    expect(second.messages.map((m: { text: string }) => m.text)).to.deep.equal(['one']);
    expect(second.next).to.equal(null);
    expect((await api(node, `/api/chats/${groupId}/messages?before=garbage`)).status).to.equal(400);
    expect((await api(node, `/api/chats/${groupId}/messages?limit=100000`)).status).to.equal(400);
    expect((await api(node, `/api/chats/${groupId}/messages`, { method: 'POST', body: { text: '' } })).status).to.equal(400);
  });

  it('shows delivery state in history: pending, then delivered', async () => {
    const chat = stand.chat()!;
    chat.store.addMember(groupId, 'dave@example.org');
    const sent = (await api(node, `/api/chats/${groupId}/messages`, { method: 'POST', body: { text: 'ack me' } })).json();
    let newest = (await api(node, `/api/chats/${groupId}/messages?limit=1`)).json().messages[0];
    expect(newest).to.deep.include({ id: sent.id, deliveredTo: [], pendingTo: ['dave@example.org'] });
    chat.store.markDelivered(groupId, Buffer.from(sent.id, 'hex'), 'dave@example.org');
    newest = (await api(node, `/api/chats/${groupId}/messages?limit=1`)).json().messages[0];
    expect(newest).to.deep.include({ deliveredTo: ['dave@example.org'], pendingTo: [] });
    chat.store.removeMember(groupId, 'dave@example.org');
  });

  it('answers 404 with the chat layer\'s code for a chat that does not exist', async () => {
    const res = await api(node, '/api/chats/9999/messages');
    expect(res.status).to.equal(404);
    expect(res.json().code).to.equal('ERR_CHAT_UNKNOWN_CHAT');
    expect((await api(node, '/api/chats/abc/messages')).status).to.equal(400);
  });

  it('answers 501 for invitations on a chat service that has none, and tells the page so', async () => {
    expect((await api(node, '/api/profile')).json()).to.include({ chat: true, invitations: false });
    for (const [method, path, body] of [['GET', '/api/invitations'], ['POST', '/api/invitations', { email: 'bob@example.org', text: 'hi' }], ['GET', '/api/invitations/policy']] as const) {
      const res = await api(node, path, { method, ...(body ? { body } : {}) });
      expect(res.status, path).to.equal(501);
      expect(res.json().code).to.equal('ERR_UI_NO_INVITATIONS');
    }
  });

  it('searches message texts', async () => {
    const res = (await api(node, '/api/search?q=two')).json();
    expect(res.hits.map((m: { text: string }) => m.text)).to.deep.equal(['two']);
    expect((await api(node, '/api/search')).status).to.equal(400);
  });

  it('lists members with online state and safety number; and takes typing notices', async () => {
    const chats = (await api(node, '/api/chats')).json() as Array<{ chatId: number; kind: string }>;
    const direct = chats.find((c) => c.kind === 'private')!;
    const members = (await api(node, `/api/chats/${direct.chatId}/members`)).json();
    expect(members).to.deep.equal([{ identity: 'bob@example.org', name: null, online: false, fingerprint: members[0].fingerprint, safetyNumber: FAKE_SAFETY_NUMBER }]);
    const typing = await api(node, `/api/chats/${direct.chatId}/typing`, { method: 'POST' });
    expect(typing.status).to.equal(200);
    expect(typing.json().ok).to.be.a('boolean');
  });

  it('pushes the chat service\'s events to the page: message, delivery, typing, member, mesh', async () => {
    const chat = stand.chat()!;
    const id = randomBytes(16);
    const hlc = chat.service.clock.now();
    const stored = chat.store.addMessage({ chatId: groupId, id, sender: 'carol@example.org', outgoing: false, hlc, content: 'hello from carol' });
    chat.service.emit('message', groupId, { seq: stored.seq, chatId: groupId, id, type: 1, sender: 'carol@example.org', outgoing: false, hlc, receivedAt: stored.receivedAt, content: Buffer.from('hello from carol'), text: 'hello from carol' });
    const message = await events.waitFor((e) => e.type === 'message');
    expect(message).to.deep.include({ chatId: groupId });
    expect(message.message).to.deep.include({ id: id.toString('hex'), sender: 'carol@example.org', text: 'hello from carol', outgoing: false });
    expect((await api(node, '/api/chats')).json().find((c: { chatId: number }) => c.chatId === groupId).unread).to.equal(1);
    chat.service.emit('delivery', groupId, { id, recipient: 'carol@example.org' });
    expect(await events.waitFor((e) => e.type === 'delivery')).to.deep.equal({ type: 'delivery', chatId: groupId, id: id.toString('hex'), recipient: 'carol@example.org' });
    chat.service.emit('typing', groupId, 'carol@example.org');
    expect(await events.waitFor((e) => e.type === 'typing')).to.deep.equal({ type: 'typing', chatId: groupId, identity: 'carol@example.org' });
    chat.service.emit('member-online', groupId, 'carol@example.org');
    expect((await events.waitFor((e) => e.type === 'member')).member).to.deep.include({ identity: 'carol@example.org', online: true });
    chat.service.emit('mesh-status', groupId, 'full');
    expect(await events.waitFor((e) => e.type === 'mesh')).to.deep.equal({ type: 'mesh', chatId: groupId, status: 'full' });
  });

  it('lists the file-share plugin\'s files, without their local path', async () => {
    expect((await api(node, '/api/files')).json()).to.deep.equal([]);
    const path = join(node.kernel.config.dataDir, 'notes.txt');
    writeFileSync(path, 'x'.repeat(5000));
    const info = await node.kernel.resolve('fileShare').share(path, 'chat-1');
    const files = (await api(node, '/api/files')).json();
    expect(files).to.have.length(1);
    expect(files[0]).to.deep.include({ id: info.fileId, name: 'notes.txt', direction: 'out', size: 5000, done: 5000, state: info.state });
    expect(JSON.stringify(files)).not.to.include(node.kernel.config.dataDir);
    const content = await api(node, `/api/files/${info.fileId}/content`);
    expect(content.status).to.equal(200);
    expect(content.body).to.equal('x'.repeat(5000));
    expect(content.headers['content-type']).to.equal('application/octet-stream');
    expect(content.headers['content-disposition']).to.match(/^attachment; filename="notes.txt"/);
    expect((await api(node, `/api/files/${'0'.repeat(info.fileId.length)}/content`)).status).to.equal(404);
    expect((await api(node, `/api/files/${info.fileId}/explode`, { method: 'POST' })).status).to.equal(400);
    expect((await api(node, '/api/files/not-hex/pause', { method: 'POST' })).status).to.equal(400);
    const unknown = await api(node, `/api/files/${'0'.repeat(info.fileId.length)}/pause`, { method: 'POST' });
    expect(unknown.status).to.be.within(400, 499);
    expect(unknown.json().code).to.match(/^ERR_/);
  });

  it('shares a file uploaded by the page (drag and drop) in a chat', async () => {
    const bytes = randomBytes(3000);
    const res = await api(node, `/api/chats/${groupId}/files?name=${encodeURIComponent('report 2026.pdf')}`, { method: 'POST', body: bytes });
    expect(res.status, res.body).to.equal(200);
    expect(res.json()).to.deep.include({ name: 'report 2026.pdf', size: 3000, direction: 'out' });
    expect(node.kernel.resolve('fileShare').chatsOf(res.json().id)).to.deep.equal([String(groupId)]);
    const content = await api(node, `/api/files/${res.json().id}/content`);
    expect(Buffer.from(content.body, 'latin1').length).to.be.greaterThan(0);
    for (const name of ['../escape', 'a/b', '', '..']) {
      const bad = await api(node, `/api/chats/${groupId}/files?name=${encodeURIComponent(name)}`, { method: 'POST', body: bytes });
      expect(bad.status, name).to.equal(400);
    }
    const json = await api(node, `/api/chats/${groupId}/files?name=x.txt`, { method: 'POST', body: { not: 'bytes' } });
    expect(json.status).to.equal(415);
  });

  it('turns plugins on and off in the config file, keeping the rest of it', async () => {
    const before = JSON.parse(readFileSync(node.configFile, 'utf8'));
    const settings = (await api(node, '/api/settings')).json();
    expect(settings.source).to.equal(node.configFile);
    expect(settings.restartNeeded).to.equal(false);
    expect(settings.plugins.find((p: { name: string }) => p.name === 'http-ui')).to.deep.include({ enabled: true, state: 'loaded' });
    expect(settings.plugins.find((p: { name: string }) => p.name === 'dht')).to.deep.include({ enabled: false, state: 'absent' });

    const on = (await api(node, '/api/settings/plugins/dht', { method: 'PUT', body: { enabled: true } })).json();
    expect(on.restartNeeded).to.equal(true);
    let file = JSON.parse(readFileSync(node.configFile, 'utf8'));
    expect(file.plugins.dht).to.equal(true);
    expect({ ...file, plugins: undefined }).to.deep.equal({ ...before, plugins: undefined });
    expect(file.plugins['http-ui']).to.deep.equal({ port: 0 });

    await api(node, '/api/settings/plugins/dht', { method: 'PUT', body: { enabled: false } });
    file = JSON.parse(readFileSync(node.configFile, 'utf8'));
    expect(file.plugins.dht).to.equal(false);

    const self = await api(node, '/api/settings/plugins/http-ui', { method: 'PUT', body: { enabled: false } });
    expect(self.status).to.equal(400);
    const unknown = await api(node, '/api/settings/plugins/no-such-plugin', { method: 'PUT', body: { enabled: true } });
    expect(unknown.status).to.equal(404);
    expect((await api(node, '/api/settings/plugins/dht', { method: 'PUT', body: { enabled: 'yes' } })).status).to.equal(400);
    expect(JSON.parse(readFileSync(node.configFile, 'utf8')).plugins['http-ui']).to.deep.equal({ port: 0 });
  });

  it("saves a plugin's options only when its own schema accepts them", async () => {
    const good = await api(node, '/api/settings/plugins/file-share', { method: 'PUT', body: { enabled: true, options: { pipeline: 8, autoDownload: true } } });
    expect(good.status, good.body).to.equal(200);
    expect(good.json().plugins.find((p: { name: string }) => p.name === 'file-share').options).to.deep.equal({ pipeline: 8, autoDownload: true });
    expect(JSON.parse(readFileSync(node.configFile, 'utf8')).plugins['file-share']).to.deep.equal({ pipeline: 8, autoDownload: true });
    for (const options of [{ pipeline: 1000 }, { noSuchOption: 1 }, { autoDownload: 'yes' }]) {
      const bad = await api(node, '/api/settings/plugins/file-share', { method: 'PUT', body: { enabled: true, options } });
      expect(bad.status, JSON.stringify(options)).to.equal(400);
      expect(bad.json().code).to.match(/^ERR_/);
    }
    expect(JSON.parse(readFileSync(node.configFile, 'utf8')).plugins['file-share']).to.deep.equal({ pipeline: 8, autoDownload: true });
  });

  it('leaves a chat', async () => {
    expect((await api(node, `/api/chats/${groupId}`, { method: 'DELETE' })).json()).to.deep.equal({ ok: true });
    const list = (await api(node, '/api/chats')).json() as Array<{ chatId: number }>;
    expect(list.map((c) => c.chatId)).not.to.include(groupId);
  });
});

describe('http-ui: a node without a profile', () => {
  let node: UiNode;
  before(async () => {
    node = await startUiNode();
  });
  after(async () => {
    await node?.stop();
  });

  it('says so, and has no chats or files', async () => {
    expect((await api(node, '/api/profile')).json()).to.deep.equal({ available: false, status: { state: 'none' }, chat: false, invitations: false, fileShare: false, registration: null, certificate: null });
    const create = await api(node, '/api/profile', { method: 'POST', body: { name: 'A', email: 'a@example.org', password: PASSWORD } });
    expect(create.status).to.equal(404);
    expect(create.json().code).to.equal('ERR_UI_NO_PROFILE');
    expect((await api(node, '/api/chats')).json().code).to.equal('ERR_UI_LOCKED');
    expect((await api(node, '/api/files')).json().code).to.equal('ERR_UI_NO_FILE_SHARE');
  });
});
