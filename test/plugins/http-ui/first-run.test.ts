/**
 * The two other ways into a first run, in a real browser on real nodes: a
 * profile issued by a real certification authority (its HTTP service, and a
 * real SMTP server on 127.0.0.1 that receives the code), and opening an
 * existing profile file with its password.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Page } from 'playwright-core';
import { CertificateAuthority } from '../../../core/identity/ca/authority.js';
import { defaultCaConfig } from '../../../core/identity/ca/config.js';
import { createSmtpMailer, type VerificationMailer } from '../../../core/identity/ca/mailer.js';
import { createCaServer } from '../../../core/identity/ca/server.js';
import { loadProfile, saveProfile } from '../../../core/identity/profile.js';
import { artifactPath, chromiumAvailable, CHROMIUM_PATH, launchBrowser } from '../../helpers/browser.js';
import { codeFrom, startSmtp } from '../../helpers/smtp.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { Rendezvous, TEST_KEY_BITS, testProfile } from '../../helpers/testnet.js';
import { startChatNode } from './chat-nodes.js';
import { api, type UiNode } from './ui-node.js';

const PASSWORD = 'correct horse battery';

const suite = chromiumAvailable() ? describe : describe.skip;
const missing = chromiumAvailable() ? '' : ` (skipped: ${CHROMIUM_PATH} is missing; install Debian's chromium package)`;

suite(`http-ui: first run with a CA-issued profile or a profile file${missing}`, function () {
  this.timeout(120_000);
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  const dir = makeTempDir('bitchat-ui-first-run-');
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let ca: CertificateAuthority;
  let mailer: VerificationMailer;
  let caServer: FastifyInstance;
  let caUrl: string;
  const nodes: UiNode[] = [];
  let page: Page;

  before(async () => {
    execFileSync(process.execPath, [join(process.cwd(), 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.ui.json'], { stdio: 'pipe' });
    smtp = await startSmtp();
    ca = await CertificateAuthority.init(join(dir.path, 'ca'), defaultCaConfig('Loopback Test CA', { host: '127.0.0.1', port: smtp.port, from: 'ca@ca.test' }), { bits: TEST_KEY_BITS });
    mailer = createSmtpMailer(ca.config.smtp);
    caServer = createCaServer(ca, mailer);
    await caServer.listen({ host: '127.0.0.1', port: 0 });
    caUrl = `http://127.0.0.1:${(caServer.server.address() as AddressInfo).port}`;
    const rendezvous = new Rendezvous();
    nodes.push(await startChatNode(rendezvous.plugin()), await startChatNode(rendezvous.plugin()));
    browser = await launchBrowser();
    page = await browser.context.newPage();
  });
  after(async () => {
    await page?.close();
    await browser?.close();
    for (const node of nodes) await node.stop().catch(() => undefined);
    await caServer?.close();
    mailer?.close();
    ca?.close();
    if (smtp) await new Promise<void>((resolve) => smtp.server.close(() => resolve()));
    dir.cleanup();
  });

  it('creates a profile whose certificate a CA issues after the mailed code is entered', async () => {
    const node = nodes[0]!;
    await page.goto(node.url);
    await page.locator('#first-run').waitFor();
    await page.fill('input[name=name]', 'Carol');
    await page.fill('input[name=email]', 'carol@example.org');
    await page.fill('input[name=password]', PASSWORD);
    await page.fill('input[name=confirm]', PASSWORD);
    await page.check('input[name=issuer][value=ca]');
    await page.fill('input[name=ca-url]', caUrl);
    await page.screenshot({ path: artifactPath('first-run-ca.png'), fullPage: true });
    await page.click('#first-run button[type=submit]');

    await page.locator('#ca-state', { hasText: 'Loopback Test CA mailed a code to carol@example.org' }).waitFor({ timeout: 60_000 });
    const first = codeFrom(await smtp.waitFor('carol@example.org'));
    expect(await page.locator('#ca-code .mono').textContent()).to.match(/^[0-9a-f]{40,}$/);
    await page.screenshot({ path: artifactPath('first-run-ca-code.png'), fullPage: true });
    await page.setViewportSize({ width: 360, height: 640 });
    expect((await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number).to.be.at.most(0);
    await page.screenshot({ path: artifactPath('first-run-ca-code-narrow.png'), fullPage: true });
    await page.setViewportSize({ width: 1000, height: 720 });

    // A wrong code is refused and the screen stays; a new code can be asked for.
    await page.fill('input[name=code]', first === '00000000' ? '00000001' : '00000000');
    await page.click('#ca-code button[type=submit]');
    await page.locator('#ca-code .error', { hasText: /code/i }).waitFor();
    await page.click('#ca-retry');
    const second = codeFrom(await smtp.waitFor('carol@example.org'));
    await page.locator('#ca-state', { hasText: 'mailed a code' }).waitFor();
    await page.fill('input[name=code]', second);
    await page.click('#ca-code button[type=submit]');
    await page.getByText('No chats yet').waitFor({ timeout: 30_000 });
    expect(await page.locator('#who').textContent()).to.equal('carol@example.org');

    const profile = (await api(node, '/api/profile')).json();
    expect(profile.registration).to.equal(null);
    expect(profile.status).to.include({ state: 'unlocked', email: 'carol@example.org' });
    expect((await api(node, '/api/chats')).status).to.equal(200);
    // Saved: the profile file now holds the CA's certificate, its root and a staple.
    const saved = await loadProfile(node.kernel.config.profile!, PASSWORD);
    expect(saved.kind).to.equal('ca');
    expect(saved.certificateChain).to.have.length(2);
    expect(saved.trustedRoots.some((root) => root.equals(ca.root.der))).to.equal(true);
    expect(saved.staple).to.be.instanceOf(Buffer);
  });

  it('refuses a CA that cannot be reached before any key is made', async () => {
    const node = nodes[1]!;
    const refused = await api(node, '/api/profile/ca', { method: 'POST', body: { name: 'Eve', email: 'eve@example.org', password: PASSWORD, caUrl: 'http://127.0.0.1:9/' } });
    expect(refused.status).to.equal(400);
    expect(refused.json().code).to.equal('ERR_CA_HTTP');
    expect((await api(node, '/api/profile')).json()).to.deep.include({ status: { state: 'none' }, registration: null });
    expect(existsSync(node.kernel.config.profile!)).to.equal(false);
  });

  it('opens an existing profile file with its password; a wrong password or a damaged file changes nothing', async () => {
    const node = nodes[1]!;
    const made = await testProfile('dave@example.org', 0, 'Dave');
    const file = join(dir.path, 'dave.profile');
    await saveProfile(file, made, PASSWORD);
    const damaged = join(dir.path, 'damaged.profile');
    const bytes = readFileSync(file);
    bytes[bytes.length - 5]! ^= 0x40;
    writeFileSync(damaged, bytes);

    // Bounded fuzz of the import route: random bytes, truncations and bit flips are refused, never a 500, never placed.
    const cases: Buffer[] = [];
    for (let i = 0; i < 12; i++) cases.push(randomBytes(1 + randomInt(4096)));
    for (let i = 0; i < 12; i++) cases.push(bytes.subarray(0, randomInt(bytes.length)));
    for (let i = 0; i < 12; i++) {
      const flipped = Buffer.from(readFileSync(file));
      flipped[randomInt(flipped.length)]! ^= 1 << randomInt(8);
      cases.push(flipped);
    }
    for (const content of cases) {
      if (content.length === 0) continue;
      const answer = await api(node, '/api/profile/import', { method: 'POST', body: { file: content.toString('base64'), password: PASSWORD } });
      expect(answer.status, answer.body).to.be.oneOf([400, 403]);
      expect(answer.json().code).to.match(/^ERR_/);
    }
    expect(existsSync(node.kernel.config.profile!)).to.equal(false);

    await page.goto(node.url);
    await page.locator('#first-run').waitFor();
    await page.click('#tab-open');
    await page.locator('#open-profile').waitFor();
    await page.setInputFiles('input[name=profile-file]', file);
    await page.fill('input[name=open-password]', 'not the password');
    await page.click('#open-profile button[type=submit]');
    await page.locator('#open-profile .error', { hasText: /password/i }).waitFor();
    await page.setInputFiles('input[name=profile-file]', damaged);
    await page.fill('input[name=open-password]', PASSWORD);
    await page.click('#open-profile button[type=submit]');
    await page.locator('#open-profile .error', { hasText: /tamper|damaged|corrupt|authentic/i }).waitFor();
    expect(existsSync(node.kernel.config.profile!)).to.equal(false);
    await page.screenshot({ path: artifactPath('first-run-open.png'), fullPage: true });

    await page.setInputFiles('input[name=profile-file]', file);
    await page.click('#open-profile button[type=submit]');
    await page.getByText('No chats yet').waitFor({ timeout: 30_000 });
    expect(await page.locator('#who').textContent()).to.equal('dave@example.org');
    expect((await api(node, '/api/profile')).json().status).to.include({ state: 'unlocked', email: 'dave@example.org', safetyNumber: made.safetyNumber });
    // Only once: the node has a profile now.
    const again = await api(node, '/api/profile/import', { method: 'POST', body: { file: readFileSync(file).toString('base64'), password: PASSWORD } });
    expect(again.status).to.equal(409);
  });

  it('has a self-issued profile certified by a CA later, from the settings (same key)', async () => {
    const node = nodes[1]!;
    const before = (await api(node, '/api/profile')).json();
    expect(before.certificate).to.equal('self');
    await page.click('#nav a[data-view=settings]');
    await page.click('details.ca-register summary');
    await page.fill('input[name=register-ca-url]', caUrl);
    await page.fill('input[name=register-password]', 'not the password');
    await page.click('#ca-register button[type=submit]');
    await page.locator('#ca-register .error', { hasText: /password/i }).waitFor();
    await page.screenshot({ path: artifactPath('settings-ca-register.png'), fullPage: true });
    await page.fill('input[name=register-password]', PASSWORD);
    await page.click('#ca-register button[type=submit]');
    await page.locator('#ca-state', { hasText: 'mailed a code to dave@example.org' }).waitFor({ timeout: 30_000 });
    await page.fill('input[name=code]', codeFrom(await smtp.waitFor('dave@example.org')));
    await page.click('#ca-code button[type=submit]');
    await page.getByText('No chats yet').waitFor({ timeout: 30_000 });

    const after = (await api(node, '/api/profile')).json();
    expect(after).to.deep.include({ certificate: 'ca', registration: null });
    // The same key: the same fingerprint-derived safety number.
    expect(after.status.safetyNumber).to.equal(before.status.safetyNumber);
    expect((await loadProfile(node.kernel.config.profile!, PASSWORD)).kind).to.equal('ca');
  });
});
