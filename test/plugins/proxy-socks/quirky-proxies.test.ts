/**
 * Proxies that put the first tunnel bytes in the same segment as their reply
 * (allowed by both protocols): those bytes must reach the caller, even one
 * that starts reading late. Small scripted proxies on 127.0.0.1 make the
 * coalescing certain, which real proxies only do by chance.
 */
import { expect } from 'chai';
import { PROXY_ERROR_CODES } from '../../../plugins/proxy-socks/errors.js';
import { startTcpServer, type TestServer } from '../../helpers/proxy-servers.js';
import { assertEchoes, closeSocket, dialerFor, expectCode, readExactly } from './support.js';

const EARLY = Buffer.from('EARLY-BYTES');

/** Answers SOCKS5 no-auth + CONNECT (IPv4 target) with the reply and EARLY in one write, then echoes. */
function scriptedSocks5(): Promise<TestServer> {
  return startTcpServer((socket) => {
    let buffered = Buffer.alloc(0);
    let stage = 0;
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      if (stage === 0 && buffered.length >= 3) {
        buffered = buffered.subarray(2 + (buffered[1] as number));
        socket.write(Buffer.from([0x05, 0x00]));
        stage = 1;
      }
      if (stage === 1 && buffered.length >= 10) {
        const rest = buffered.subarray(10);
        socket.removeListener('data', onData);
        socket.write(Buffer.concat([Buffer.from([0x05, 0x00, 0x00, 0x01, 127, 0, 0, 1, 0x1f, 0x90]), EARLY]));
        if (rest.length > 0) socket.write(rest);
        socket.pipe(socket);
      }
    };
    socket.on('data', onData);
  });
}

/** Answers CONNECT with `head` and EARLY in one write, then echoes. */
function scriptedHttp(head: string): Promise<TestServer> {
  return startTcpServer((socket) => {
    let buffered = '';
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('latin1');
      if (!buffered.includes('\r\n\r\n')) return;
      socket.removeListener('data', onData);
      socket.write(Buffer.concat([Buffer.from(head, 'latin1'), EARLY]));
      socket.pipe(socket);
    };
    socket.on('data', onData);
  });
}

describe('proxy-socks: replies coalesced with tunnel bytes', () => {
  const servers: TestServer[] = [];
  after(async () => {
    for (const server of servers) await server.stop();
  });

  /** Dials through `server`, reads late (after the proxy already sent EARLY), then checks the tunnel echoes. */
  async function earlyBytesReachLateReader(type: 'socks5' | 'http', server: TestServer, host: string): Promise<void> {
    servers.push(server);
    const socket = await dialerFor({ type, host: '127.0.0.1', port: server.port }).connect({ host, port: 8080 }, { timeoutMs: 5000 });
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect((await readExactly(socket, EARLY.length)).toString()).to.equal(EARLY.toString());
      await assertEchoes(socket, 5000);
    } finally {
      await closeSocket(socket);
    }
  }

  it('SOCKS5: bytes after the CONNECT reply reach a late reader, then the tunnel echoes', async () => {
    await earlyBytesReachLateReader('socks5', await scriptedSocks5(), '127.0.0.1');
  });

  it('HTTP: bytes after the 200 head reach a late reader, then the tunnel echoes', async () => {
    await earlyBytesReachLateReader('http', await scriptedHttp('HTTP/1.1 200 Connection established\r\nProxy-Agent: scripted\r\n\r\n'), 'peer.example');
  });

  it('HTTP: an oversized head fails at the cap with ERR_PROXY_BAD_RESPONSE', async () => {
    const server = await scriptedHttp(`HTTP/1.1 200 OK\r\nX-Filler: ${'a'.repeat(20_000)}\r\n\r\n`);
    servers.push(server);
    await expectCode(dialerFor({ type: 'http', host: '127.0.0.1', port: server.port }).connect({ host: 'peer.example', port: 1 }, { timeoutMs: 5000 }), PROXY_ERROR_CODES.BAD_RESPONSE);
  });
});
