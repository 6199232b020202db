/** What the handshake prepares off its critical path: the pool of one-use key shares. */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { RECORD_TYPE } from '../../../core/secure-channel/constants.js';
import { decodeClientHello, decodeServerHello } from '../../../core/secure-channel/handshake-codec.js';
import { KeySharePool, SC_ERROR, SUITE, SecureChannel, keySharePool, type SuiteId } from '../../../core/secure-channel/index.js';
import { DEFAULT_SUITES, SUITE_NAMES } from '../../../core/secure-channel/suites.js';
import { Resources, dial, listen, loadIdentity, options, recordProxy, socketPair } from './helpers.js';

const alice = loadIdentity('alice');
const bob = loadIdentity('bob');
const ALL_SUITES: SuiteId[] = [SUITE.X25519_RSA_AES256_GCM, SUITE.ECDHE_P256_RSA_AES256_CBC_SHA256, SUITE.DHE2048_RSA_AES256_CBC_SHA256];
const POOL_MODULE = fileURLToPath(new URL('../../../core/secure-channel/key-share-pool.ts', import.meta.url));

/** Waits (bounded) until `ready()` holds; fails the test if it never does. */
async function until(ready: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !ready(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!ready()) throw new Error(`never happened: ${what}`);
}

describe('secure channel: key share pool', () => {
  const pools: KeySharePool[] = [];
  const pool = (o?: ConstructorParameters<typeof KeySharePool>[0]): KeySharePool => {
    const p = new KeySharePool(o);
    pools.push(p);
    return p;
  };
  afterEach(() => {
    for (const p of pools.splice(0)) p.clear();
  });

  it('hands each share out once and never again, pooled or made on demand', () => {
    const p = pool({ sharesPerSuite: 3, refillDelayMs: 60_000 });
    const seen = new Set<string>();
    const take = (suite: SuiteId): void => {
      const share = p.take(suite);
      expect(share.suite).to.equal(suite);
      const hex = share.share.toString('hex');
      expect(seen.has(hex), 'a share came out twice').to.equal(false);
      seen.add(hex);
    };
    for (const suite of ALL_SUITES) take(suite); // first sight: made on demand, suite now pooled
    expect(p.stats).to.deep.include({ taken: 3, fromPool: 0, madeOnDemand: 3 });
    for (let round = 0; round < 3; round++) {
      p.fill();
      for (const suite of ALL_SUITES) expect(p.size(suite)).to.equal(3);
      for (const suite of ALL_SUITES) for (let i = 0; i < 4; i++) take(suite); // 3 pooled, then one on demand
      for (const suite of ALL_SUITES) expect(p.size(suite)).to.equal(0);
    }
    expect(p.stats.fromPool).to.equal(3 * 3 * 3);
    expect(p.stats.madeOnDemand).to.equal(3 + 3 * 3);
    expect(p.stats.madeAhead).to.equal(p.stats.fromPool);
  });

  it('refills by itself after a take, only the suites asked for', async () => {
    const p = pool({ sharesPerSuite: 2, refillDelayMs: 1 });
    p.take(SUITE.X25519_RSA_AES256_GCM);
    await until(() => p.size(SUITE.X25519_RSA_AES256_GCM) === 2, 'pool refilled');
    expect(p.size(SUITE.DHE2048_RSA_AES256_CBC_SHA256)).to.equal(0);
    expect(p.stats.madeAhead).to.equal(2);
  });

  it('with sharesPerSuite 0 makes every share on demand and keeps none', () => {
    const p = pool({ sharesPerSuite: 0 });
    p.take(SUITE.X25519_RSA_AES256_GCM);
    p.fill();
    expect(p.size(SUITE.X25519_RSA_AES256_GCM)).to.equal(0);
    expect(p.stats).to.deep.include({ fromPool: 0, madeOnDemand: 1, madeAhead: 0 });
  });

  it('refuses bad options and unknown suites with typed errors', () => {
    for (const o of [{ sharesPerSuite: -1 }, { sharesPerSuite: 1.5 }, { refillDelayMs: -1 }, { refillDelayMs: Number.NaN }]) {
      expect(() => new KeySharePool(o)).to.throw().with.property('code', SC_ERROR.OPTIONS);
    }
    expect(() => pool().take(99 as SuiteId)).to.throw().with.property('code', SC_ERROR.INTERNAL);
  });

  it('does not keep the process alive while a refill is pending', async function () {
    this.timeout(30_000);
    // The child takes a share (a refill due in 60 s) and has nothing else to do: it must exit now.
    const script = `import { KeySharePool } from ${JSON.stringify(POOL_MODULE)};
      const p = new KeySharePool({ refillDelayMs: 60_000 });
      p.take(3);
      process.on('exit', () => process.stdout.write('exited ' + p.stats.madeAhead));`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const killer = setTimeout(() => child.kill(), 20_000);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(killer);
    expect(code).to.equal(0);
    expect(out).to.equal('exited 0');
  });

  it('gives every handshake fresh shares on both sides (hellos never repeat a share)', async () => {
    const res = new Resources();
    try {
      const suites = [...DEFAULT_SUITES];
      for (const id of ALL_SUITES) keySharePool.take(id); // so the process's pool keeps shares of every suite
      const before = { ...keySharePool.stats };
      const port = await listen(res, (s) => {
        SecureChannel.accept(s, options(bob, alice, { suites })).then((c) => res.channel(c), () => undefined);
      });
      const proxy = await recordProxy(res, port);
      for (let i = 0; i < 3; i++) {
        keySharePool.fill();
        res.channel(await SecureChannel.connect(await dial(res, proxy.port), options(alice, bob, { suites })));
      }
      expect(keySharePool.stats.fromPool - before.fromPool).to.be.at.least(3 * (suites.length + 1));
      const shares: string[] = [];
      for (const rec of proxy.log.toServer) {
        if (rec[0] === RECORD_TYPE.CLIENT_HELLO) for (const o of decodeClientHello(rec.subarray(3)).offers) shares.push(o.share.toString('hex'));
      }
      for (const rec of proxy.log.toClient) if (rec[0] === RECORD_TYPE.SERVER_HELLO) shares.push(decodeServerHello(rec.subarray(3)).share.toString('hex'));
      expect(shares.length).to.equal(3 * (suites.length + 1));
      expect(new Set(shares).size).to.equal(shares.length);
      // One share per offered suite per hello: all three suites were offered.
      expect(suites.map((n) => SUITE_NAMES[n]).sort()).to.deep.equal([...ALL_SUITES].sort());
    } finally {
      await res.closeAll();
    }
  });

  it("takes a channel's shares from the pool it is given, not the process's", async () => {
    const res = new Resources();
    try {
      const own = pool({ refillDelayMs: 60_000 });
      const before = keySharePool.stats.taken;
      const [a, b] = await socketPair(res);
      const channels = await Promise.all([
        SecureChannel.connect(a, options(alice, bob, { keySharePool: own })),
        SecureChannel.accept(b, options(bob, alice, { keySharePool: own })),
      ]);
      for (const c of channels) res.channel(c);
      // The client offers every default suite, the server answers with one share.
      expect(own.stats.taken).to.equal(DEFAULT_SUITES.length + 1);
      expect(keySharePool.stats.taken).to.equal(before);
      const [c, d] = await socketPair(res);
      d.destroy();
      const [refused] = await Promise.allSettled([SecureChannel.connect(c, options(alice, bob, { keySharePool: {} as KeySharePool }))]);
      expect(refused.status === 'rejected' && (refused.reason as { code: string }).code).to.equal(SC_ERROR.OPTIONS);
    } finally {
      await res.closeAll();
    }
  });
});
