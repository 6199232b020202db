import { expect } from 'chai';
import type { PeerConnectionInfo } from '../../../core/types.js';
import { definePlugin } from '../../../core/plugin.js';
import { createTestKernel, testConfig } from '../../helpers/kernel.js';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { waitFor } from './testnet.js';

describe('connection/kernel integration', () => {
  it('a kernel runs the connection layer between start and stop; plugins see connections through hooks', async () => {
    const dirs = [makeTempDir(), makeTempDir()];
    const seen: PeerConnectionInfo[] = [];
    const watcher = definePlugin({
      name: 'watcher',
      version: '1.0.0',
      apply(api) {
        api.hooks.connection.tap('watcher', (info) => void seen.push(info));
      },
    });
    const a = await createTestKernel(testConfig(dirs[0]!.path));
    const b = await createTestKernel(testConfig(dirs[1]!.path), [{ definition: watcher, options: {} }]);
    try {
      await a.start();
      await b.start();
      expect(b.resolve('connections')).to.equal(b.connections);
      const conn = await a.connections.connect({ host: '127.0.0.1', port: b.connections.localPort });
      expect(conn.peerId.equals(b.connections.peerId)).to.equal(true);
      await waitFor(() => seen.length === 1);
      expect(seen[0]!.peerId.equals(a.connections.peerId)).to.equal(true);
    } finally {
      await a.stop();
      await b.stop();
      for (const d of dirs) d.cleanup();
    }
    expect(a.connections.connections).to.have.length(0);
    expect(b.connections.localPort).to.equal(0);
  });
});
