import { expect } from 'chai';
import { createSocket } from 'node:dgram';
import { Kernel } from '../../../core/kernel.js';
import { createTestKernel, testConfig } from '../../helpers/kernel.js';
import { makeTempDir } from '../../helpers/temp-dir.js';

/** Counts of libuv handles by type. */
function handles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

/** A UDP port nobody uses right now, for the LAN plugin. */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

describe('Tor mode across the kernel and the discovery plugins', () => {
  let temp: ReturnType<typeof makeTempDir>;
  let kernel: Kernel | undefined;
  beforeEach(() => (temp = makeTempDir()));
  afterEach(async () => {
    await kernel?.stop();
    kernel = undefined;
    temp.cleanup();
  });

  it('opens no listener and no UDP socket; UDP trackers are dropped', async () => {
    kernel = await createTestKernel(
      testConfig(temp.path, {
        plugins: {
          'proxy-socks': { tor: true, host: '127.0.0.1', port: 9 },
          dht: { bootstrap: [], allowPrivateAddresses: true },
          'lan-discovery': { port: await freeUdpPort(), loopbackOnly: true },
          trackers: { announce: ['udp://127.0.0.1:9/announce', 'http://127.0.0.1:9/announce'] },
        },
      }),
    );
    await kernel.start();
    expect(kernel.connections.localPort, 'no listening port').to.equal(0);
    // Socket counts of the whole process can move with other tests' late closes: ask the services.
    expect((kernel.resolve('dht') as { running: boolean }).running, 'DHT not started').to.equal(false);
    expect((kernel.resolve('lan-discovery') as { isRunning: boolean }).isRunning, 'LAN discovery not started').to.equal(false);
    const trackers = kernel.resolve('trackers') as { trackersFor(id: Buffer): string[] };
    expect(trackers.trackersFor(Buffer.alloc(20, 7))).to.deep.equal(['http://127.0.0.1:9/announce']);
  });

  it('without a proxy the same plugins listen and open their UDP sockets', async () => {
    const before = handles();
    kernel = await createTestKernel(
      testConfig(temp.path, {
        plugins: { dht: { bootstrap: [], allowPrivateAddresses: true }, 'lan-discovery': { port: await freeUdpPort(), loopbackOnly: true } },
      }),
    );
    await kernel.start();
    expect(kernel.connections.localPort).to.be.greaterThan(0);
    expect(handles().UDPWrap ?? 0).to.be.greaterThan(before.UDPWrap ?? 0);
    expect((kernel.resolve('dht') as { running: boolean }).running).to.equal(true);
    expect((kernel.resolve('lan-discovery') as { isRunning: boolean }).isRunning).to.equal(true);
  });
});
