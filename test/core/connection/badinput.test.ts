import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { createConnection, type Socket } from 'node:net';
import {
  CHANNEL_WINDOW,
  ConnectionError,
  FRAME_HEADER_LENGTH,
  HANDSHAKE_RESPONSE_LENGTH,
  MAX_CHANNEL_WINDOW,
  MAX_FRAME_DATA,
  Signal,
  encodeFrame,
  encodeHandshakeRequest,
  WRITE_FRAME_DATA,
  type Connection,
} from '../../../core/connection/index.js';
import { Testnet, acceptAll, channelName, endpointOf, once, waitFor, type TestNode } from './testnet.js';

/** A hand-driven peer: completes the handshake, then sends whatever a test wants. */
async function rawPeer(node: TestNode, options: { read?: boolean } = {}): Promise<{ socket: Socket; server: Connection }> {
  const socket = createConnection({ host: '127.0.0.1', port: node.manager.localPort });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  const id = randomBytes(20);
  const registered = new Promise<Connection>((resolve) => {
    const on = (c: Connection): void => {
      if (c.peerId.equals(id)) {
        node.manager.off('connection', on);
        resolve(c);
      }
    };
    node.manager.on('connection', on);
  });
  socket.write(encodeHandshakeRequest({ peerId: id, servicePort: 0 }));
  if (options.read !== false) socket.resume();
  else socket.pause();
  return { socket, server: await registered };
}

async function closeReason(node: TestNode, connection: Connection): Promise<Error | undefined> {
  if (connection.closed) return connection.closeReason;
  const [reason] = (await once(connection, 'close')) as [Error | undefined];
  return reason;
}

describe('connection/bad input', () => {
  const net = new Testnet();
  afterEach(() => net.stop());

  const header = (signal: number, name: Buffer, length: number): Buffer => {
    const b = Buffer.alloc(23);
    b[0] = signal;
    name.copy(b, 1);
    b.writeUInt16LE(length, 21);
    return b;
  };

  it('an oversize frame closes that connection with ERR_FRAME_TOO_LARGE; the node serves others', async () => {
    const node = await net.node();
    const other = await net.node();
    const { socket, server } = await rawPeer(node);
    socket.write(header(Signal.CHANNEL_DATA, channelName('x'), MAX_FRAME_DATA + 1));
    const reason = await closeReason(node, server);
    expect(reason).to.be.instanceOf(ConnectionError).with.property('code', 'ERR_FRAME_TOO_LARGE');
    expect(node.manager.stats.protocolErrors).to.equal(1);
    await once(socket, 'close');
    const ok = await other.manager.connect(endpointOf(node));
    expect(ok.closed).to.equal(false);
  });

  it('an unknown signal closes with ERR_FRAME_UNKNOWN_SIGNAL', async () => {
    const node = await net.node();
    const { socket, server } = await rawPeer(node);
    socket.write(header(200, Buffer.alloc(20), 0));
    expect(await closeReason(node, server)).to.have.property('code', 'ERR_FRAME_UNKNOWN_SIGNAL');
  });

  it('data on an unknown channel is dropped and counted; the connection stays', async () => {
    const node = await net.node();
    const { socket, server } = await rawPeer(node);
    for (let i = 0; i < 20; i++) socket.write(encodeFrame(Signal.CHANNEL_DATA, channelName(`nobody${i}`), Buffer.alloc(1000)));
    socket.write(encodeFrame(Signal.NETWORK_INVITATION, Buffer.alloc(20), Buffer.from('hello')));
    await waitFor(() => node.manager.stats.framesDropped === 21);
    expect(server.closed).to.equal(false);
  });

  it('a peer that sends past its credit is closed with ERR_CHANNEL_FLOW_CONTROL', async () => {
    const node = await net.node();
    const opened: Buffer[] = [];
    node.manager.onChannel((req) => {
      const ch = req.accept();
      ch.pause(); // never reads
      opened.push(req.name);
    });
    const { socket, server } = await rawPeer(node);
    const name = channelName('greedy');
    socket.write(encodeFrame(Signal.CONNECT_CHANNEL, name));
    const chunk = encodeFrame(Signal.CHANNEL_DATA, name, Buffer.alloc(MAX_FRAME_DATA, 1));
    for (let sent = 0; sent <= CHANNEL_WINDOW; sent += MAX_FRAME_DATA) socket.write(chunk);
    expect(await closeReason(node, server)).to.have.property('code', 'ERR_CHANNEL_FLOW_CONTROL');
    expect(opened).to.have.length(1);
  });

  it('a peer may grow a window to 1 MiB of credit; one byte more is ERR_CHANNEL_FLOW_CONTROL', async () => {
    const node = await net.node();
    const served: Buffer[] = [];
    node.manager.onChannel((req) => {
      const ch = req.accept();
      ch.on('error', () => undefined);
      ch.write(Buffer.alloc(2 * MAX_CHANNEL_WINDOW, 3)); // more than any window
      served.push(req.name);
    });
    const { socket, server } = await rawPeer(node);
    let dataBytes = 0;
    socket.on('data', (chunk: Buffer) => (dataBytes += chunk.length));
    const name = channelName('grown');
    socket.write(encodeFrame(Signal.CONNECT_CHANNEL, name));
    // Bytes on the wire once `credit` bytes of data went out, after the handshake answer and CHANNEL_ACCEPT.
    const wire = (credit: number): number => HANDSHAKE_RESPONSE_LENGTH + FRAME_HEADER_LENGTH + credit + (credit / WRITE_FRAME_DATA) * FRAME_HEADER_LENGTH;
    await waitFor(() => dataBytes >= wire(CHANNEL_WINDOW));
    // Everything sent so far is acknowledged, plus a window grown to the maximum.
    const update = (credit: number): Buffer => {
      const data = Buffer.alloc(4);
      data.writeUInt32LE(credit, 0);
      return encodeFrame(Signal.WINDOW_UPDATE, name, data);
    };
    socket.write(update(MAX_CHANNEL_WINDOW));
    await waitFor(() => dataBytes >= wire(CHANNEL_WINDOW + MAX_CHANNEL_WINDOW));
    expect(server.closed).to.equal(false);
    expect(dataBytes).to.equal(wire(CHANNEL_WINDOW + MAX_CHANNEL_WINDOW));
    // The sender spent all its credit; a grant of 1 MiB + 1 exceeds the maximum window.
    socket.write(update(MAX_CHANNEL_WINDOW + 1));
    expect(await closeReason(node, server)).to.have.property('code', 'ERR_CHANNEL_FLOW_CONTROL');
    expect(served).to.have.length(1);
  });

  it('a half-open socket (FIN after the handshake, or mid-handshake) is closed and cleaned up', async () => {
    const node = await net.node();
    const { socket, server } = await rawPeer(node);
    socket.end(); // half-close: we still could read
    expect(await closeReason(node, server)).to.have.property('code', 'ERR_CONNECTION_CLOSED');
    await once(socket, 'close');
    const half = createConnection({ host: '127.0.0.1', port: node.manager.localPort });
    half.on('error', () => undefined);
    await once(half, 'connect');
    half.end(Buffer.from([2, 1, 2, 3]));
    half.resume();
    await once(half, 'close');
    await waitFor(() => node.manager.stats.handshakeFailures === 1);
    expect(node.manager.connections).to.have.length(0);
  });

  it('a silent socket that never completes the handshake is dropped at the handshake timeout', async () => {
    const node = await net.node({ limits: { handshakeTimeoutMs: 200 } });
    const silent = createConnection({ host: '127.0.0.1', port: node.manager.localPort });
    silent.on('error', () => undefined);
    silent.resume();
    await once(silent, 'close');
    expect(node.manager.stats.handshakeFailures).to.equal(1);
  });

  it('a peer that never reads is bounded by flow control and dropped at the write timeout', async function () {
    this.timeout(20_000);
    const node = await net.node({ limits: { writeTimeoutMs: 500 } });
    const good = await net.node();
    const block = Buffer.alloc(CHANNEL_WINDOW, 7);
    node.manager.onChannel((req) => {
      const ch = req.accept();
      ch.on('error', () => undefined);
      // Far more than one window per channel: flow control must hold the rest back.
      for (let i = 0; i < 4; i++) ch.write(block);
    });
    const { socket, server } = await rawPeer(node, { read: false });
    const channels = 100;
    for (let i = 0; i < channels; i++) socket.write(encodeFrame(Signal.CONNECT_CHANNEL, channelName(`sink${i}`)));
    // Meanwhile another peer is served normally.
    acceptAll(good, (ch) => ch.pipe(ch));
    await good.manager.connect(endpointOf(node));
    const reason = await closeReason(node, server);
    expect(reason).to.have.property('code', 'ERR_CONNECTION_WRITE_TIMEOUT');
    // Never more than one window per channel went out (plus frame headers and control frames).
    expect(server.stats.bytesOut).to.be.at.most(channels * (CHANNEL_WINDOW + 1024) + 100_000);
    expect(node.manager.getConnection(good.manager.peerId)?.closed).to.equal(false);
    socket.destroy();
  });
});
