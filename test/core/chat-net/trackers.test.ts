import { expect } from 'chai';
import { Kernel } from '../../../core/kernel.js';
import { createLogger } from '../../../core/logger.js';
import { testConfig } from '../../helpers/kernel.js';
import { startLocalTracker, type LocalTracker } from '../../helpers/local-tracker.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { testProfile, waitFor } from '../../helpers/testnet.js';

describe('chat networks: discovery through the trackers plugin and a real tracker on loopback', function () {
  this.timeout(30_000);
  let tracker: LocalTracker | undefined;
  const kernels: Kernel[] = [];
  const dirs: Array<{ cleanup(): void }> = [];

  after(async () => {
    for (const k of kernels) await k.stop().catch(() => undefined);
    await tracker?.close();
    for (const d of dirs) d.cleanup();
  });

  async function boot(email: string, keyIndex: number): Promise<Kernel> {
    const dir = makeTempDir('bitchat-trackers-chat-');
    dirs.push(dir);
    const kernel = await Kernel.create({
      config: testConfig(dir.path, {
        profile: null,
        plugins: { trackers: { announce: [tracker!.httpUrl], allowPrivateAddresses: true, honourMinInterval: false } },
      }),
      logger: createLogger('silent'),
      profile: await testProfile(email, keyIndex),
    });
    kernels.push(kernel);
    await kernel.start();
    return kernel;
  }

  it('two kernels that only know the tracker meet in a group and exchange a message', async () => {
    tracker = await startLocalTracker();
    const a = await boot('ann@test.local', 0);
    const b = await boot('ben@test.local', 1);
    const ga = await a.resolve('chat').createGroup('tracked', 'by a tracker');
    await tracker.allow(ga.networkId);
    // Ann's announce reaches the tracker first; Ben's announce is answered with Ann.
    const annTrackers = a.resolve<{ stats: { responses: number } }>('trackers');
    await waitFor(() => annTrackers.stats.responses >= 1, 'the tracker answered ann');
    const gb = await b.resolve('chat').createGroup('tracked', 'by a tracker');
    await waitFor(() => a.resolve('chat').service.onlineMembers(ga.chatId).length === 1, 'ann and ben meet', 20_000);
    b.resolve('chat').send(gb.chatId, 'found you');
    await waitFor(() => a.resolve('chat').history(ga.chatId).messages.length === 1, 'message at ann');
    expect(a.resolve('chat').history(ga.chatId).messages[0]!.text).to.equal('found you');
  });
});
