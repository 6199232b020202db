/**
 * Connection handshake (PROTOCOL.md §1.3, our version 3).
 *
 * Initiator -> acceptor (23 bytes):
 *
 * | off | size | field                                   |
 * | --- | ---- | --------------------------------------- |
 * | 0   | 1    | version, `3`                            |
 * | 1   | 20   | initiator peer ID                       |
 * | 21  | 2    | initiator service (listening) port, u16 LE; 0 = none |
 *
 * Acceptor -> initiator (21 bytes):
 *
 * | off | size | field                                   |
 * | --- | ---- | --------------------------------------- |
 * | 0   | 1    | status: 0 OK, 1 duplicate, 2 self, 3 busy |
 * | 1   | 20   | acceptor peer ID                        |
 *
 * Frames follow on the next byte. A wrong version or status closes the connection.
 */
import type { Duplex } from 'node:stream';
import {
  HANDSHAKE_REQUEST_LENGTH,
  HANDSHAKE_RESPONSE_LENGTH,
  HandshakeStatus,
  type HandshakeStatusValue,
  PEER_ID_LENGTH,
  PROTOCOL_VERSION,
} from './constants.js';
import { ConnectionError, ConnectionErrorCode } from './errors.js';

export interface HandshakeRequest {
  peerId: Buffer;
  /** The initiator's listening port (0 when it has none). */
  servicePort: number;
}

export interface HandshakeResponse {
  status: HandshakeStatusValue;
  peerId: Buffer;
}

const STATUSES: ReadonlySet<number> = new Set(Object.values(HandshakeStatus));

function checkPeerId(peerId: Buffer): void {
  if (peerId.length !== PEER_ID_LENGTH) {
    throw new ConnectionError(ConnectionErrorCode.HANDSHAKE_MALFORMED, `peer ID must be ${PEER_ID_LENGTH} bytes`);
  }
}

export function encodeHandshakeRequest(request: HandshakeRequest): Buffer {
  checkPeerId(request.peerId);
  const out = Buffer.alloc(HANDSHAKE_REQUEST_LENGTH);
  out[0] = PROTOCOL_VERSION;
  request.peerId.copy(out, 1);
  out.writeUInt16LE(request.servicePort, 1 + PEER_ID_LENGTH);
  return out;
}

export function decodeHandshakeRequest(buf: Buffer): HandshakeRequest {
  if (buf.length !== HANDSHAKE_REQUEST_LENGTH) {
    throw new ConnectionError(ConnectionErrorCode.HANDSHAKE_MALFORMED, `handshake request must be ${HANDSHAKE_REQUEST_LENGTH} bytes, got ${buf.length}`);
  }
  if (buf[0] !== PROTOCOL_VERSION) {
    throw new ConnectionError(ConnectionErrorCode.HANDSHAKE_VERSION, `unsupported connection version ${buf[0]}`);
  }
  return {
    peerId: Buffer.from(buf.subarray(1, 1 + PEER_ID_LENGTH)),
    servicePort: buf.readUInt16LE(1 + PEER_ID_LENGTH),
  };
}

export function encodeHandshakeResponse(response: HandshakeResponse): Buffer {
  checkPeerId(response.peerId);
  const out = Buffer.alloc(HANDSHAKE_RESPONSE_LENGTH);
  out[0] = response.status;
  response.peerId.copy(out, 1);
  return out;
}

export function decodeHandshakeResponse(buf: Buffer): HandshakeResponse {
  if (buf.length !== HANDSHAKE_RESPONSE_LENGTH) {
    throw new ConnectionError(ConnectionErrorCode.HANDSHAKE_MALFORMED, `handshake response must be ${HANDSHAKE_RESPONSE_LENGTH} bytes, got ${buf.length}`);
  }
  const status = buf[0]!;
  if (!STATUSES.has(status)) {
    throw new ConnectionError(ConnectionErrorCode.HANDSHAKE_MALFORMED, `unknown handshake status ${status}`);
  }
  return { status: status as HandshakeStatusValue, peerId: Buffer.from(buf.subarray(1)) };
}

/** What {@link readExactly} got: the bytes asked for, and whatever arrived after them. */
export interface ExactRead {
  bytes: Buffer;
  rest: Buffer;
}

/**
 * Reads exactly `n` bytes from a stream, then pauses it and detaches. Rejects with a
 * typed error on timeout, end, close or error; the caller destroys the stream then.
 * Holds at most `n` bytes plus the rest of the last chunk.
 */
export function readExactly(stream: Duplex, n: number, timeoutMs: number): Promise<ExactRead> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let have = 0;
    const cleanup = (): void => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      stream.off('error', onError);
    };
    const fail = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      have += chunk.length;
      if (have < n) return;
      cleanup();
      stream.pause();
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, have);
      resolve({ bytes: all.subarray(0, n), rest: all.subarray(n) });
    };
    const onEnd = (): void => fail(new ConnectionError(ConnectionErrorCode.CLOSED, 'stream closed during handshake'));
    const onError = (err: Error): void => fail(new ConnectionError(ConnectionErrorCode.CLOSED, `stream failed during handshake: ${err.message}`, { cause: err }));
    const timer = setTimeout(() => fail(new ConnectionError(ConnectionErrorCode.HANDSHAKE_TIMEOUT, `no handshake within ${timeoutMs} ms`)), timeoutMs);
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('close', onEnd);
    stream.once('error', onError);
    stream.resume();
  });
}

/** Initiator side: send our request, read the acceptor's answer. */
export async function initiateHandshake(
  stream: Duplex,
  request: HandshakeRequest,
  timeoutMs: number,
): Promise<{ response: HandshakeResponse; rest: Buffer }> {
  stream.write(encodeHandshakeRequest(request));
  const { bytes, rest } = await readExactly(stream, HANDSHAKE_RESPONSE_LENGTH, timeoutMs);
  return { response: decodeHandshakeResponse(bytes), rest };
}

/** Acceptor side, first half: read and check the initiator's request. */
export async function readHandshakeRequest(stream: Duplex, timeoutMs: number): Promise<{ request: HandshakeRequest; rest: Buffer }> {
  const { bytes, rest } = await readExactly(stream, HANDSHAKE_REQUEST_LENGTH, timeoutMs);
  return { request: decodeHandshakeRequest(bytes), rest };
}
