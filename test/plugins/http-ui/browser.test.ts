import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { artifactPath, chromiumAvailable, CHROMIUM_PATH, launchBrowser } from '../../helpers/browser.js';
import { contractPlugin } from './contract-plugin.js';
import { startUiNode, type UiNode } from './ui-node.js';

const suite = chromiumAvailable() ? describe : describe.skip;
const missing = chromiumAvailable() ? '' : ` (skipped: ${CHROMIUM_PATH} is missing; install Debian's chromium package)`;

/** The page script is compiled from plugins/http-ui/app by tsconfig.ui.json; compile it so the test never runs a stale build. */
function buildUi(): void {
  execFileSync(process.execPath, [join(process.cwd(), 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.ui.json'], { stdio: 'pipe' });
}

/** Console errors and CSP violations: a clean page has none. */
function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (err) => problems.push(err.message));
  return problems;
}

suite(`http-ui: the web app in headless Chromium${missing}`, function () {
  this.timeout(60_000);
  let browser: { context: BrowserContext; close(): Promise<void> };

  before(async () => {
    buildUi();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  describe('a node without a profile', () => {
    let node: UiNode;
    before(async () => {
      node = await startUiNode();
    });
    after(async () => {
      await node?.stop();
    });

    it('opens the printed URL, drops the token from the address, and shows the connectivity and settings screens', async () => {
      const page = await browser.context.newPage();
      const problems = watchProblems(page);
      try {
        await page.goto(node.url);
        expect(page.url()).to.equal(`${node.base}/`);
        await page.locator('#live.on').waitFor();
        await page.getByText('This node runs without a profile').waitFor();

        await page.click('#nav a[data-view=connectivity]');
        await page.locator('#connectivity .card[data-service=listen]').waitFor();
        expect(await page.locator('#connectivity').textContent()).to.include('Listening');
        await page.screenshot({ path: artifactPath('connectivity.png'), fullPage: true });

        await page.click('#nav a[data-view=settings]');
        await page.locator('#plugins tr[data-plugin=http-ui]').waitFor();
        expect(await page.locator('#plugins tr[data-plugin=http-ui] td').nth(1).textContent()).to.equal('loaded');
        expect(await page.locator('input[name=plugin-http-ui]').isDisabled()).to.equal(true);
        await page.screenshot({ path: artifactPath('settings.png'), fullPage: true });
        expect(problems).to.deep.equal([]);
      } finally {
        await page.close();
      }
    });

    it('edits the proxy, trackers and DHT bootstrap as forms drawn from their schemas, saved to the config file', async () => {
      const page = await browser.context.newPage();
      const problems = watchProblems(page);
      const saved = (): Record<string, unknown> => (JSON.parse(readFileSync(node.configFile, 'utf8')) as { plugins: Record<string, unknown> }).plugins;
      try {
        await page.goto(node.url);
        await page.click('#nav a[data-view=settings]');
        // Turned on in the file (not in the running node): their option forms appear.
        for (const name of ['proxy-socks', 'trackers', 'dht']) {
          await page.check(`input[name=plugin-${name}]`);
          await page.locator(`details.options[data-plugin=${name}]`).waitFor();
        }
        expect(saved()).to.deep.include({ 'proxy-socks': true, trackers: true, dht: true });

        const proxy = page.locator('form.plugin-options[data-plugin=proxy-socks]');
        await proxy.locator('select[name="proxy-socks.type"]').selectOption({ label: 'http' });
        await proxy.locator('input[name="proxy-socks.host"]').fill('127.0.0.1');
        await proxy.locator('input[name="proxy-socks.port"]').fill('3128');
        await proxy.locator('input[name="proxy-socks.username"]').fill('alice');
        expect(await proxy.locator('input[name="proxy-socks.password"]').getAttribute('type')).to.equal('password');
        await proxy.locator('input[name="proxy-socks.password"]').fill('s3cret');
        await proxy.locator('button[type=submit]').click();
        await proxy.locator('.saved', { hasText: 'Saved' }).waitFor();
        expect(saved()['proxy-socks']).to.deep.equal({ type: 'http', host: '127.0.0.1', port: 3128, username: 'alice', password: 's3cret' });

        const trackers = page.locator('form.plugin-options[data-plugin=trackers]');
        await trackers.locator('input[name="trackers.announce.default"]').uncheck();
        await trackers.locator('textarea[name="trackers.announce"]').fill('udp://127.0.0.1:6969\nhttp://127.0.0.1:8000/announce');
        await trackers.locator('input[name="trackers.fastIntervalSeconds"]').fill('60');
        await trackers.locator('input[name="trackers.allowPrivateAddresses"]').check();
        // Nested objects the form cannot draw are JSON, read before anything is sent.
        await trackers.locator('textarea[name="trackers.networks"]').fill('{ "ab": ');
        await trackers.locator('button[type=submit]').click();
        await trackers.locator('.error', { hasText: 'Networks: not valid JSON' }).waitFor();
        await trackers.locator('textarea[name="trackers.networks"]').fill('');
        await trackers.locator('button[type=submit]').click();
        await trackers.locator('.saved', { hasText: 'Saved' }).waitFor();
        expect(saved().trackers).to.deep.equal({ announce: ['udp://127.0.0.1:6969', 'http://127.0.0.1:8000/announce'], allowPrivateAddresses: true, fastIntervalSeconds: 60 });

        // The node checks the form's values against the same schema: a malformed bootstrap entry is refused, the file kept.
        const dht = page.locator('form.plugin-options[data-plugin=dht]');
        expect(await dht.locator('textarea[name="dht.bootstrap"]').isDisabled()).to.equal(true);
        await dht.locator('input[name="dht.bootstrap.default"]').uncheck();
        await dht.locator('textarea[name="dht.bootstrap"]').fill('router.example.org:6881\nnot a node');
        await dht.locator('button[type=submit]').click();
        await dht.locator('.error', { hasText: 'bootstrap' }).waitFor();
        expect(saved().dht).to.equal(true);
        await dht.locator('textarea[name="dht.bootstrap"]').fill('127.0.0.1:6881\n[::1]:6881');
        await dht.locator('input[name="dht.host"]').fill('127.0.0.1');
        await dht.locator('button[type=submit]').click();
        await dht.locator('.saved', { hasText: 'Saved' }).waitFor();
        expect(saved().dht).to.deep.equal({ bootstrap: ['127.0.0.1:6881', '[::1]:6881'], host: '127.0.0.1' });
        await page.locator('#restart-notice').waitFor();
        await page.screenshot({ path: artifactPath('settings-forms.png'), fullPage: true });
        await page.setViewportSize({ width: 360, height: 640 });
        const overflow = (await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
        expect(overflow).to.be.at.most(0);
        await page.screenshot({ path: artifactPath('settings-forms-narrow.png'), fullPage: true });
        expect(problems.filter((p) => !/status of 400/.test(p))).to.deep.equal([]);
      } finally {
        await page.close();
      }
    });

    it('a page from another origin cannot read the API', async () => {
      const page = await browser.context.newPage();
      try {
        // A same-origin fetch from the real page works; the token never appears in script-readable cookies.
        await page.goto(node.url);
        expect(await page.evaluate('document.cookie')).to.equal('');
        expect(await page.evaluate(async () => (await fetch('/api/node')).status)).to.equal(200);
        // The same request from a page on another port (another origin) is refused by the server.
        const status = await page.evaluate(async (target) => {
          try {
            return (await fetch(target, { mode: 'no-cors', credentials: 'include' })).type;
          } catch {
            return 'blocked';
          }
        }, `http://localhost:${node.port}/api/node`);
        expect(['opaque', 'blocked']).to.include(status);
      } finally {
        await page.close();
      }
    });
  });

  describe('a node with a profile (contract stand-in)', () => {
    let node: UiNode;
    let stand: ReturnType<typeof contractPlugin>;
    let page: Page;
    let problems: string[];
    before(async () => {
      stand = contractPlugin();
      node = await startUiNode([{ definition: stand.definition }], { 'file-share': {} });
      page = await browser.context.newPage();
      problems = watchProblems(page);
    });
    after(async () => {
      await page?.close();
      await node?.stop();
    });

    it('creates a profile on first run, showing progress while the key is made', async () => {
      await page.goto(node.url);
      await page.locator('#first-run').waitFor();
      await page.fill('input[name=name]', 'Alice');
      await page.fill('input[name=email]', 'alice@example.org');
      await page.fill('input[name=password]', 'correct horse battery');
      await page.fill('input[name=confirm]', 'correct horse batterx');
      await page.click('#first-run button[type=submit]');
      await page.getByText('The two passwords differ.').waitFor();
      await page.fill('input[name=confirm]', 'correct horse battery');
      await page.screenshot({ path: artifactPath('first-run.png'), fullPage: true });
      await page.click('#first-run button[type=submit]');
      await page.locator('#progress-text', { hasText: /Making your key… \d+ s|Protecting it with your password… \d+ s/ }).waitFor();
      await page.screenshot({ path: artifactPath('first-run-progress.png'), fullPage: true });
      await page.locator('#chat-list').waitFor({ state: 'attached' });
      await page.getByText('No chats yet').waitFor();
      expect(await page.locator('#who').textContent()).to.equal('alice@example.org');
    });

    it('joins a group and sends a message that is shown as text, never as HTML', async () => {
      await page.click('#join-link');
      await page.locator('#join-group').waitFor();
      await page.screenshot({ path: artifactPath('join.png'), fullPage: true });
      await page.fill('input[name=group-name]', 'Friends');
      await page.fill('input[name=group-secret]', 's3cret');
      await page.click('#join-group button[type=submit]');
      await page.locator('#composer').waitFor();
      const hostile = '<img src=x onerror="document.title=\'owned\'"> hi <b>bold</b>';
      await page.fill('#composer textarea', hostile);
      await page.press('#composer textarea', 'Enter');
      const mine = page.locator('#messages li.outgoing').last();
      await mine.waitFor();
      expect(await mine.locator('.text').textContent()).to.equal(hostile);
      expect(await page.locator('#messages img, #messages b').count()).to.equal(0);
      expect(await mine.locator('.ticks').getAttribute('data-state')).to.equal('sent');
      expect(await page.title()).not.to.include('owned');
    });

    it('shows live incoming messages, delivery ticks, typing and members with their safety number', async () => {
      const chat = stand.chat()!;
      const chatId = (chat.list() as Array<{ chatId: number }>)[0]!.chatId;
      // A delivery acknowledgement for our message, as the mesh reports it.
      const ownId = await page.locator('#messages li.outgoing').last().getAttribute('data-id');
      chat.store.addMember(chatId, 'carol@example.org');
      chat.service.emit('delivery', chatId, { id: Buffer.from(ownId!, 'hex'), recipient: 'carol@example.org' });
      await page.locator(`#messages li[data-id="${ownId}"] .ticks[data-state=delivered]`).waitFor();

      chat.service.emit('typing', chatId, 'carol@example.org');
      await page.locator('#typing', { hasText: 'carol@example.org is typing' }).waitFor();

      const id = randomBytes(16);
      const hlc = chat.service.clock.now();
      const stored = chat.store.addMessage({ chatId, id, sender: 'carol@example.org', outgoing: false, hlc, content: 'hello Alice' });
      chat.service.emit('message', chatId, { ...stored, chatId, id, type: 1, sender: 'carol@example.org', outgoing: false, hlc, content: Buffer.from('hello Alice'), text: 'hello Alice' });
      const theirs = page.locator(`#messages li.incoming[data-id="${id.toString('hex')}"]`);
      await theirs.waitFor();
      expect(await theirs.locator('.sender').textContent()).to.equal('carol@example.org');
      // Shown in the open chat: the page reports it read, so it does not count as unread.
      await page.waitForFunction(
        async (open) => ((await (await fetch('/api/chats')).json()) as Array<{ chatId: number; unread: number }>).find((c) => c.chatId === open)?.unread === 0,
        chatId,
        { polling: 100, timeout: 10_000 },
      );

      chat.service.emit('member-online', chatId, 'carol@example.org');
      await page.locator('#members li[data-identity="carol@example.org"]', { hasText: 'safety number' }).waitFor();
      chat.service.emit('mesh-status', chatId, 'full');
      await page.locator('#mesh-status', { hasText: 'connected to all' }).waitFor();
      await page.screenshot({ path: artifactPath('chat.png'), fullPage: true });
    });

    it('keeps a mesh change that comes while the chat screen is still loading', async () => {
      const chat = stand.chat()!;
      const chatId = (chat.list() as Array<{ chatId: number }>)[0]!.chatId;
      // The chat summary is read first; the change comes while the members are read, before the screen shows.
      await page.route('**/api/chats/*/members', async (route) => {
        chat.service.emit('mesh-status', chatId, 'partial');
        await new Promise((resolve) => setTimeout(resolve, 300));
        await route.continue();
      });
      try {
        await page.reload();
        await page.locator('#mesh-status', { hasText: 'partly connected' }).waitFor({ timeout: 10_000 });
      } finally {
        await page.unroute('**/api/chats/*/members');
      }
    });

    it('pages older history', async () => {
      const chat = stand.chat()!;
      const chatId = (chat.list() as Array<{ chatId: number }>)[0]!.chatId;
      for (let i = 0; i < 60; i++) chat.service.send(chatId, `backlog ${i}`);
      await page.reload();
      await page.locator('#messages li').first().waitFor();
      expect(await page.locator('#messages li').count()).to.equal(50);
      await page.click('#load-older');
      await page.locator('#messages li').nth(50).waitFor();
      expect(await page.locator('#messages li').count()).to.equal(62);
      expect(await page.locator('#load-older').isHidden()).to.equal(true);
    });

    it('shows unread counts and search results in the chat list', async () => {
      const chat = stand.chat()!;
      const chatId = (chat.list() as Array<{ chatId: number }>)[0]!.chatId;
      await page.click('.chat-header .back');
      await page.locator('#chat-list li').first().waitFor();
      const id = randomBytes(16);
      const hlc = chat.service.clock.now();
      const stored = chat.store.addMessage({ chatId, id, sender: 'carol@example.org', outgoing: false, hlc, content: 'are you there?' });
      chat.service.emit('message', chatId, { ...stored, chatId, id, type: 1, sender: 'carol@example.org', outgoing: false, hlc, content: Buffer.from('are you there?'), text: 'are you there?' });
      await page.locator(`#chat-list li[data-chat-id="${chatId}"] .unread`, { hasText: '1' }).waitFor();
      await page.fill('input[name=q]', 'there');
      await page.press('input[name=q]', 'Enter');
      await page.locator('#search-results li', { hasText: 'are you there?' }).waitFor();
      await page.screenshot({ path: artifactPath('chat-list.png'), fullPage: true });
    });

    it('shares a file from the chat page and lists files with their progress when file-share is loaded', async () => {
      await page.click('#chat-list li a');
      await page.locator('#composer .attach').waitFor();
      await page.setInputFiles('#file-picker', { name: 'plan.txt', mimeType: 'text/plain', buffer: Buffer.from('the plan') });
      await page.locator('#share-status', { hasText: 'Shared plan.txt' }).waitFor();
      const path = join(node.kernel.config.dataDir, 'photo of us.jpg');
      writeFileSync(path, randomBytes(70_000));
      const info = await node.kernel.resolve('fileShare').share(path, 'chat-1');
      await page.click('#nav a[data-view=files]');
      const row = page.locator(`#transfers li[data-transfer="${info.fileId}"]`);
      await row.waitFor();
      expect(await row.locator('strong').textContent()).to.equal('photo of us.jpg');
      expect(await row.locator('a.open').getAttribute('href')).to.equal(`/api/files/${info.fileId}/content`);
      await page.locator('#transfers li', { hasText: 'plan.txt' }).waitFor();
      await page.screenshot({ path: artifactPath('files.png'), fullPage: true });
      await page.click('#nav a[data-view=chats]');
      await page.locator('#chat-list li').first().waitFor();
    });

    it('works in a narrow window', async () => {
      await page.setViewportSize({ width: 360, height: 640 });
      await page.click('#chat-list li a');
      await page.locator('#composer').waitFor();
      const overflow = (await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
      expect(overflow).to.be.at.most(0);
      await page.screenshot({ path: artifactPath('chat-narrow.png'), fullPage: true });
      await page.setViewportSize({ width: 1000, height: 720 });
    });

    it('locks from the settings and unlocks with the password', async () => {
      await page.click('#nav a[data-view=settings]');
      await page.click('#lock');
      await page.locator('#unlock').waitFor();
      await page.screenshot({ path: artifactPath('unlock.png'), fullPage: true });
      await page.fill('#unlock input[name=password]', 'wrong password');
      await page.click('#unlock button[type=submit]');
      await page.getByText('wrong password').waitFor();
      await page.fill('#unlock input[name=password]', 'correct horse battery');
      await page.click('#unlock button[type=submit]');
      await page.locator('#chat-list li').first().waitFor();
      expect(problems.filter((p) => !/status of 403/.test(p))).to.deep.equal([]);
    });
  });
});
