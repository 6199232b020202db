import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { expect } from 'chai';
import { tapDirectDial } from '../../../core/connection/dial.js';
import { ConnectionManager } from '../../../core/connection/manager.js';
import { createHooks } from '../../../core/hooks.js';
import { createLogger } from '../../../core/logger.js';
import { dialBack } from '../../../plugins/relay/reachability.js';

describe('plugins/relay dialBack (reachability probe)', function () {
  this.timeout(10_000);
  let manager: ConnectionManager;
  const servers: Server[] = [];
  const sockets: Socket[] = [];

  beforeEach(async () => {
    const hooks = createHooks();
    tapDirectDial(hooks);
    manager = new ConnectionManager({ hooks, logger: createLogger('silent'), listen: { host: '127.0.0.1', port: 0 } });
    await manager.start();
  });

  afterEach(async () => {
    await manager.stop();
    for (const s of sockets.splice(0)) s.destroy();
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  });

  it('finds the node by its own peer ID, and the node registers nothing', async () => {
    const ok = await dialBack({ host: '127.0.0.1', port: manager.localPort }, manager.peerId, 3_000);
    expect(ok).to.equal(true);
    expect(manager.stats.selfConnections).to.equal(1);
    expect(manager.stats.connectionsIn).to.equal(0);
    expect(manager.connections).to.have.length(0);
  });

  it('is false for another node at that port, for a closed port, and for a silent non-bitchat server', async () => {
    expect(await dialBack({ host: '127.0.0.1', port: manager.localPort }, randomBytes(20), 3_000)).to.equal(false);
    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      });
    });
    expect(await dialBack({ host: '127.0.0.1', port: closed }, manager.peerId, 3_000)).to.equal(false);
    const silent = createServer((s) => sockets.push(s));
    servers.push(silent);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    expect(await dialBack({ host: '127.0.0.1', port: (silent.address() as { port: number }).port }, manager.peerId, 300)).to.equal(false);
    expect(await dialBack({ host: '127.0.0.1', port: 0 }, manager.peerId, 300)).to.equal(false);
  });

  it('gives up when aborted (the relay stops)', async () => {
    const silent = createServer((s) => sockets.push(s));
    servers.push(silent);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const ac = new AbortController();
    const result = dialBack({ host: '127.0.0.1', port: (silent.address() as { port: number }).port }, manager.peerId, 60_000, ac.signal);
    setTimeout(() => ac.abort(), 50);
    expect(await result).to.equal(false);
  });
});
