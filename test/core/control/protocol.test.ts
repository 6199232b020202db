import { expect } from 'chai';
import { connect } from 'node:net';
import { ControlErrorCode, controlSocketPath, decodeRequest, LineSplitter, MAX_REQUEST_BYTES } from '../../../core/control/index.js';
import { ControlError } from '../../../core/control/errors.js';
import { METHOD_PATTERN, decodeReply, encodeError, encodeResult } from '../../../core/control/protocol.js';
import { createTestKernel, testConfig } from '../../helpers/kernel.js';
import { prng } from '../../helpers/prng.js';
import { makeTempDir } from '../../helpers/temp-dir.js';

const FUZZ_CASES = 6_000;
const FUZZ_BUDGET_MS = 4_000;
const LIVE_LINES = 300;

const SEEDS = [
  '{"id":1,"method":"chat.send","params":{"chat":"Garden","text":"hello","wait":5}}',
  '{"id":"abc","method":"node.status"}',
  '{"id":2,"method":"chat.history","params":{"chat":3,"before":{"wallMs":1,"counter":0,"id":"00ff"}}}',
  '{"id":3,"method":"control.cancel","params":{"id":1}}',
];

function mutate(random: () => number, seed: string): Buffer {
  let buf = Buffer.from(seed);
  const edits = 1 + Math.floor(random() * 4);
  for (let e = 0; e < edits && buf.length > 0; e++) {
    const at = Math.floor(random() * buf.length);
    const kind = random();
    if (kind < 0.4) buf[at] = Math.floor(random() * 256);
    else if (kind < 0.6) buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + 1)]);
    else if (kind < 0.8) buf = Buffer.concat([buf.subarray(0, at), Buffer.from([Math.floor(random() * 256)]), buf.subarray(at)]);
    else buf = buf.subarray(0, at);
  }
  return buf;
}

/** A random JSON value, biased towards request-like objects with wrong-typed fields. */
function randomJson(random: () => number, depth = 0): unknown {
  const pick = random();
  if (depth > 3 || pick < 0.15) return [null, true, -1, 0, 2 ** 53, 1.5, '', 'x'.repeat(Math.floor(random() * 80)), 'chat.send', 'A.b'][Math.floor(random() * 10)];
  if (pick < 0.3) return Array.from({ length: Math.floor(random() * 3) }, () => randomJson(random, depth + 1));
  const keys = ['id', 'method', 'params', 'extra', 'chat', 'text', '__proto__'];
  const value: Record<string, unknown> = {};
  for (const key of keys) if (random() < 0.5) value[key] = randomJson(random, depth + 1);
  return value;
}

function expectRequestOrBadRequest(line: Buffer): void {
  try {
    const request = decodeRequest(line);
    expect(METHOD_PATTERN.test(request.method)).to.equal(true);
    expect(typeof request.id === 'string' ? request.id.length <= 64 : Number.isSafeInteger(request.id) && request.id >= 0).to.equal(true);
    expect(request.params).to.be.an('object').and.not.an('array');
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(ControlError);
    expect((err as ControlError).code).to.equal(ControlErrorCode.BAD_REQUEST);
  }
}

describe('control protocol codec', () => {
  it('decodes a request and refuses every field out of range', () => {
    expect(decodeRequest(Buffer.from(SEEDS[0]!))).to.deep.equal({ id: 1, method: 'chat.send', params: { chat: 'Garden', text: 'hello', wait: 5 } });
    expect(decodeRequest(Buffer.from('{"id":"a","method":"files.list"}')).params).to.deep.equal({});
    for (const bad of ['{"id":1.5,"method":"a.b"}', `{"id":"${'x'.repeat(65)}","method":"a.b"}`, '{"id":1,"method":"nodot"}', `{"id":1,"method":"a.${'b'.repeat(70)}"}`, '{"id":1,"method":"a.b","params":null}', '"text"']) {
      expect(() => decodeRequest(Buffer.from(bad)), bad).to.throw(ControlError).with.property('code', ControlErrorCode.BAD_REQUEST);
    }
    expect(() => decodeRequest(Buffer.from([0x7b, 0xff, 0x7d]))).to.throw(/UTF-8/);
  });

  it('replies round-trip; a non-BitChatError becomes ERR_CONTROL_INTERNAL; Buffers become hex', () => {
    expect(decodeReply(encodeResult(4, { b: Buffer.from([1, 2]) }).subarray(0, -1))).to.deep.equal({ kind: 'result', id: 4, result: { b: '0102' } });
    expect(decodeReply(encodeError(null, new Error('boom')).subarray(0, -1))).to.deep.equal({ kind: 'error', id: null, code: 'ERR_CONTROL_INTERNAL', message: 'boom' });
    expect(() => decodeReply(Buffer.from('{"id":1}'))).to.throw(ControlError).with.property('code', ControlErrorCode.CLOSED);
  });

  it('fuzz: random and mutated lines give a well-formed request or ERR_CONTROL_BAD_REQUEST, never anything else', function () {
    this.timeout(FUZZ_BUDGET_MS * 3);
    const random = prng(0xc0117201);
    const deadline = Date.now() + FUZZ_BUDGET_MS;
    let decoded = 0;
    let cases = 0;
    for (; cases < FUZZ_CASES && Date.now() < deadline; cases++) {
      const kind = cases % 3;
      const line = kind === 0 ? mutate(random, SEEDS[Math.floor(random() * SEEDS.length)]!) : kind === 1 ? Buffer.from(JSON.stringify(randomJson(random)) ?? 'null') : Buffer.from(Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256)));
      try {
        decodeRequest(line);
        decoded++;
      } catch {
        // checked below
      }
      expectRequestOrBadRequest(line);
    }
    expect(cases).to.be.greaterThan(1_000);
    expect(decoded, 'some mutations stay valid requests').to.be.greaterThan(0);
  });

  it('the line splitter gives the same lines however the stream is cut, and never holds more than its cap', () => {
    const random = prng(0x5917);
    const lines = Array.from({ length: 200 }, (_, i) => `{"id":${i},"method":"a.b","params":{"t":"${'z'.repeat(Math.floor(random() * 300))}"}}`);
    const stream = Buffer.from(lines.map((l, i) => (i % 7 === 0 ? l + '\r\n' : l + '\n')).join('') + '\n\n');
    for (let round = 0; round < 50; round++) {
      const splitter = new LineSplitter(512);
      const got: string[] = [];
      for (let at = 0; at < stream.length; ) {
        const size = 1 + Math.floor(random() * 700);
        for (const l of splitter.push(stream.subarray(at, at + size))) got.push(l.toString());
        at += size;
      }
      expect(got).to.deep.equal(lines);
    }
    const small = new LineSplitter(16);
    expect(() => small.push(Buffer.alloc(17, 0x61))).to.throw(ControlError).with.property('code', ControlErrorCode.TOO_LARGE);
    const split = new LineSplitter(16);
    split.push(Buffer.alloc(10, 0x61));
    expect(() => split.push(Buffer.alloc(7, 0x61))).to.throw(/longer than 16 bytes/);
    expect(() => new LineSplitter(16).push(Buffer.from('a'.repeat(17) + '\n'))).to.throw(/longer than 16 bytes/);
  });

  it('a live node answers every line of a mutated stream and still serves afterwards', async function () {
    this.timeout(20_000);
    const temp = makeTempDir('bitchat-control-fuzz-');
    const kernel = await createTestKernel(testConfig(temp.path, { profile: null }));
    await kernel.start();
    const socket = connect({ path: controlSocketPath(temp.path) });
    try {
      const random = prng(0xf022);
      const payload = Buffer.concat(Array.from({ length: LIVE_LINES }, () => Buffer.concat([mutate(random, SEEDS[Math.floor(random() * SEEDS.length)]!), Buffer.from('\n')])));
      const expectedLines = payload.toString('latin1').split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.length > 0).length;
      let text = '';
      let replies = 0;
      const answered = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${replies} of ${expectedLines} replies`)), 10_000);
        socket.on('data', (chunk) => {
          text += chunk.toString('latin1');
          replies = text.split('\n').length - 1;
          if (text.includes('"id":"final"')) {
            clearTimeout(timer);
            resolve();
          }
        });
        socket.on('close', () => reject(new Error('the node closed the connection')));
      });
      socket.write(payload);
      socket.write('{"id":"final","method":"node.status"}\n');
      await answered;
      expect(replies).to.be.at.least(expectedLines + 1);
      for (const reply of text.trim().split('\n')) expect(JSON.parse(reply)).to.have.property('id');
      expect(kernel.controlServer!.stats.badRequests).to.be.greaterThan(0);
      expect(text).to.contain(ControlErrorCode.BAD_REQUEST);
      expect(MAX_REQUEST_BYTES).to.be.greaterThan(payload.length / LIVE_LINES);
    } finally {
      socket.destroy();
      await kernel.stop();
      temp.cleanup();
    }
  });
});
