import { expect } from 'chai';
import { randomBytes, randomInt } from 'node:crypto';
import { createConnection } from 'node:net';
import {
  ConnectionError,
  FRAME_HEADER_LENGTH,
  FrameDecoder,
  MAX_FRAME_DATA,
  Signal,
  decodeEpn,
  decodeFrame,
  decodeHandshakeRequest,
  decodeHandshakeResponse,
  encodeEpn,
  encodeFrame,
  encodeHandshakeRequest,
  encodeHandshakeResponse,
} from '../../../core/connection/index.js';
import { Testnet, acceptAll, channelName, drain, endpointOf, once } from './testnet.js';

/** Flip, overwrite, truncate, extend or splice random bytes. */
function mutate(input: Buffer): Buffer {
  let buf = Buffer.from(input);
  const edits = 1 + randomInt(4);
  for (let i = 0; i < edits; i++) {
    switch (randomInt(5)) {
      case 0:
        if (buf.length) buf[randomInt(buf.length)]! ^= 1 << randomInt(8);
        break;
      case 1:
        if (buf.length) buf[randomInt(buf.length)] = randomInt(256);
        break;
      case 2:
        buf = buf.subarray(0, randomInt(buf.length + 1));
        break;
      case 3:
        buf = Buffer.concat([buf, randomBytes(randomInt(64))]);
        break;
      default: {
        const at = randomInt(buf.length + 1);
        buf = Buffer.concat([buf.subarray(0, at), randomBytes(randomInt(32)), buf.subarray(at)]);
      }
    }
  }
  return buf;
}

/** Only typed errors may escape a parser. */
function typedOrNothing(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof ConnectionError)) throw err;
  }
}

function randomFrameStream(): Buffer {
  const parts: Buffer[] = [];
  const n = 1 + randomInt(6);
  for (let i = 0; i < n; i++) {
    const name = randomInt(2) ? channelName(`c${randomInt(3)}`) : randomBytes(20);
    switch (randomInt(6)) {
      case 0:
        parts.push(encodeFrame(Signal.CHANNEL_DATA, name, randomBytes(1 + randomInt(3000))));
        break;
      case 1:
        parts.push(encodeFrame(Signal.CONNECT_CHANNEL, name));
        break;
      case 2: {
        const credit = Buffer.alloc(4);
        credit.writeUInt32LE(randomInt(2 ** 20));
        parts.push(encodeFrame(Signal.WINDOW_UPDATE, name, credit));
        break;
      }
      case 3:
        parts.push(encodeFrame([Signal.NOOP, Signal.DISCONNECT_CHANNEL, Signal.CHANNEL_END, Signal.CHANNEL_ACCEPT, Signal.PEER_STATUS_QUERY][randomInt(5)]!, name));
        break;
      case 4:
        parts.push(encodeFrame(Signal.CONNECT_PROXY_TUNNEL, randomInt(2) ? encodeEpn({ host: '127.0.0.1', port: randomInt(65536) }) : name));
        break;
      default:
        parts.push(encodeFrame(Signal.NETWORK_INVITATION, name, randomBytes(randomInt(100))));
    }
  }
  return Buffer.concat(parts);
}

describe('connection/fuzz', () => {
  it('handshake and EPN decoders answer 6,000 random and mutated inputs with values or typed errors', () => {
    const request = encodeHandshakeRequest({ peerId: randomBytes(20), servicePort: 4242 });
    const response = encodeHandshakeResponse({ status: 0, peerId: randomBytes(20) });
    const epn = encodeEpn({ host: '2001:db8::1', port: 80 });
    for (let i = 0; i < 2000; i++) {
      typedOrNothing(() => decodeHandshakeRequest(randomInt(2) ? randomBytes(randomInt(40)) : mutate(request)));
      typedOrNothing(() => decodeHandshakeResponse(randomInt(2) ? randomBytes(randomInt(40)) : mutate(response)));
      typedOrNothing(() => decodeEpn(randomInt(2) ? randomBytes(20) : mutate(epn)));
    }
  });

  it('the frame decoder survives 3,000 mutated streams in random splits with bounded buffering', () => {
    let frames = 0;
    let errors = 0;
    for (let i = 0; i < 3000; i++) {
      const stream = randomInt(4) === 0 ? randomBytes(randomInt(200)) : mutate(randomFrameStream());
      const decoder = new FrameDecoder();
      try {
        for (let off = 0; off < stream.length; ) {
          const step = 1 + randomInt(4000);
          decoder.push(stream.subarray(off, off + step), () => frames++);
          expect(decoder.bufferedBytes).to.be.at.most(FRAME_HEADER_LENGTH + MAX_FRAME_DATA);
          off += step;
        }
      } catch (err) {
        if (!(err instanceof ConnectionError)) throw err;
        errors++;
      }
      typedOrNothing(() => decodeFrame(stream));
    }
    expect(frames).to.be.greaterThan(0);
    expect(errors).to.be.greaterThan(0);
  });

  it('a live node closes 240 garbage connections with typed errors and keeps serving', async function () {
    this.timeout(30_000);
    const net = new Testnet();
    try {
      const node = await net.node({ limits: { handshakeTimeoutMs: 300, readTimeoutMs: 300, channelOpenTimeoutMs: 200 } });
      acceptAll(node, (ch) => ch.pipe(ch));
      const reasons = new Map<string, number>();
      node.manager.on('disconnection', (_c, reason) => {
        const code = reason instanceof ConnectionError ? reason.code : `untyped:${String(reason)}`;
        reasons.set(code, (reasons.get(code) ?? 0) + 1);
      });
      const oneCase = async (): Promise<void> => {
        const socket = createConnection({ host: '127.0.0.1', port: node.manager.localPort });
        socket.on('error', () => undefined);
        socket.resume();
        await once(socket, 'connect');
        const hello = encodeHandshakeRequest({ peerId: randomBytes(20), servicePort: 0 });
        const kind = randomInt(3);
        const payload =
          kind === 0 ? randomBytes(randomInt(300)) : kind === 1 ? mutate(Buffer.concat([hello, randomFrameStream()])) : Buffer.concat([hello, mutate(randomFrameStream())]);
        socket.write(payload);
        // The node must close every one of them (typed error, or a timeout): bounded wait.
        const timer = setTimeout(() => socket.destroy(new Error('node did not close a garbage connection')), 5000);
        const [hadError] = (await once(socket, 'close')) as [boolean];
        clearTimeout(timer);
        expect(hadError, 'the node closed the socket, not our watchdog').to.equal(false);
      };
      for (let batch = 0; batch < 8; batch++) await Promise.all(Array.from({ length: 30 }, oneCase));
      for (const code of reasons.keys()) expect(code).to.match(/^ERR_/);
      expect(node.manager.connections).to.have.length(0);
      // Still serving.
      const good = await net.node();
      await good.manager.connect(endpointOf(node));
      const ch = await good.manager.openChannel(node.manager.peerId, channelName('after-fuzz'));
      const echoed = drain(ch);
      ch.end(Buffer.alloc(100_000, 5));
      expect((await echoed).bytes).to.equal(100_000);
    } finally {
      await net.stop();
    }
  });
});
