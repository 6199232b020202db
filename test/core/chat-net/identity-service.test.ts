import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Kernel } from '../../../core/kernel.js';
import { createLogger } from '../../../core/logger.js';
import type { IdentityService } from '../../../core/node/identity-service.js';
import { testConfig } from '../../helpers/kernel.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { Rendezvous } from '../../helpers/testnet.js';

/** The lowest KDF cost the profile file accepts: tests only. */
const ITERATIONS = 200_000;

describe('identity service and chat service in the kernel', function () {
  this.timeout(60_000);
  const dirs: Array<{ cleanup(): void }> = [];
  const kernels: Kernel[] = [];

  after(async () => {
    for (const k of kernels) await k.stop().catch(() => undefined);
    for (const d of dirs) d.cleanup();
  });

  async function boot(rendezvous: Rendezvous): Promise<{ kernel: Kernel; dir: string }> {
    const dir = makeTempDir('bitchat-identity-');
    dirs.push(dir);
    const kernel = await Kernel.create({
      config: testConfig(dir.path, { profile: join(dir.path, 'me.profile') }),
      logger: createLogger('silent'),
      plugins: [rendezvous.plugin()],
      profileIterations: ITERATIONS,
      profileBits: 2048,
    });
    kernels.push(kernel);
    await kernel.start();
    return { kernel, dir: dir.path };
  }

  it('goes none → unlocked → locked → unlocked; chat is there only while unlocked; secrets survive in the profile', async () => {
    const rendezvous = new Rendezvous();
    const { kernel, dir } = await boot(rendezvous);
    const identity: IdentityService = kernel.resolve('identity');
    expect(identity.status()).to.deep.equal({ state: 'none' });
    expect(kernel.tryResolve('chat')).to.equal(undefined);
    const events: string[] = [];
    identity.on('unlocked', () => events.push('unlocked'));
    identity.on('locked', () => events.push('locked'));

    const created = await identity.create({ name: 'Zoe', email: 'Zoe@Test.Local', password: 'correct horse', mode: 'self' });
    expect(created.state).to.equal('unlocked');
    expect(created.email).to.equal('zoe@test.local');
    expect(created.safetyNumber).to.be.a('string');
    expect(existsSync(join(dir, 'me.profile'))).to.equal(true);
    const chat = kernel.resolve('chat');
    const g = await chat.createGroup('book club', 'pages');
    chat.send(g.chatId, 'first note');

    await identity.lock();
    expect(identity.status()).to.deep.equal({ state: 'locked' });
    expect(kernel.tryResolve('chat')).to.equal(undefined);
    expect(() => kernel.resolve('chat')).to.throw(/not available/);

    let wrong: unknown;
    try {
      await identity.unlock('wrong password');
    } catch (err) {
      wrong = err;
    }
    expect(wrong).to.be.instanceOf(Error);
    expect(identity.status().state).to.equal('locked');

    await identity.unlock('correct horse');
    expect(events).to.deep.equal(['unlocked', 'locked', 'unlocked']);
    const again = kernel.resolve('chat');
    const [summary] = again.list();
    // The group came back online with its secret (held in the profile), history readable (key in the profile).
    expect(summary).to.include({ name: 'book club', online: true });
    expect(again.history(summary!.chatId).messages.map((m) => m.text)).to.deep.equal(['first note']);
    expect(again.service.networkSecret(summary!.chatId).equals(chat.service.networkSecret(g.chatId))).to.equal(true);
  });
});
