import { expect } from 'chai';
import { createServer, type Server } from 'node:net';
import { rawRequest, startUiNode, type UiNode } from './ui-node.js';

describe('http-ui: a taken port', () => {
  let blocker: Server | undefined;
  let node: UiNode | undefined;

  afterEach(async () => {
    await node?.stop();
    await new Promise((resolve) => (blocker ? blocker.close(resolve) : resolve(undefined)));
    node = undefined;
    blocker = undefined;
  });

  it('moves the UI to another free port and prints that one in the URL', async () => {
    blocker = createServer();
    await new Promise<void>((resolve) => blocker!.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as { port: number }).port;
    node = await startUiNode([], { 'http-ui': { port: taken } });
    expect(node.port).to.be.greaterThan(0).and.not.equal(taken);
    expect(node.url).to.include(`:${node.port}/`);
    expect((await rawRequest(node.port, '/api/node')).status).to.equal(401);
  });
});
