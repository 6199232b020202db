import Database from 'better-sqlite3';
import { expect } from 'chai';
import { randomBytes, randomInt } from 'node:crypto';
import { REGISTRATION_MIGRATIONS, RegistrationStore, type SavedRegistration } from '../../../plugins/http-ui/registration-store.js';

const TAMPER_ROUNDS = 200;

const SAVED: SavedRegistration = {
  keyFingerprint: 'ab'.repeat(32),
  email: 'rita@example.org',
  caUrl: 'http://ca.example:8080',
  caName: 'Test CA',
  caFingerprint: 'cd'.repeat(32),
  caRoot: randomBytes(900),
  requestId: 'r-123',
  expiresAt: 1_800_000_000_000,
  state: 'code-sent',
  error: null,
};

/** A value of some other type, or an out-of-range one, for a column. */
function hostile(): unknown {
  const choices: unknown[] = [null, 0, -1, 1.5, 2 ** 60, '', 'x'.repeat(5000), 'registering', randomBytes(randomInt(70_000)), Buffer.alloc(0), 'ok'];
  return choices[randomInt(choices.length)];
}

describe('http-ui: the saved CA registration', () => {
  let db: Database.Database;
  let store: RegistrationStore;
  beforeEach(() => {
    db = new Database(':memory:');
    for (const migration of REGISTRATION_MIGRATIONS) migration.up(db);
    store = new RegistrationStore(db);
  });
  afterEach(() => db.close());

  it('keeps one registration, replaced by the next save, gone after clear', () => {
    expect(store.load()).to.equal(null);
    store.save(SAVED);
    expect(store.load()).to.deep.equal(SAVED);
    store.save({ ...SAVED, state: 'failed', error: 'no mail', requestId: null, expiresAt: null });
    expect(store.load()).to.deep.include({ state: 'failed', error: 'no mail', requestId: null, expiresAt: null });
    expect(db.prepare('SELECT count(*) AS n FROM http_ui_ca_registration').get()).to.deep.equal({ n: 1 });
    store.clear();
    expect(store.load()).to.equal(null);
  });

  it('a tampered row reads as none and is dropped, never as a half registration', () => {
    const columns = ['key_fingerprint', 'email', 'ca_url', 'ca_name', 'ca_fingerprint', 'ca_root', 'request_id', 'expires_at', 'state', 'error'];
    let dropped = 0;
    for (let i = 0; i < TAMPER_ROUNDS; i++) {
      store.save(SAVED);
      const column = columns[randomInt(columns.length)]!;
      const value = hostile();
      // The schema's NOT NULL columns refuse a null outright; SQLite's loose typing lets the rest in.
      try {
        db.prepare(`UPDATE http_ui_ca_registration SET ${column} = ?`).run(value as never);
      } catch {
        continue;
      }
      const loaded = store.load();
      if (loaded === null) {
        dropped++;
        expect(db.prepare('SELECT count(*) AS n FROM http_ui_ca_registration').get()).to.deep.equal({ n: 0 });
        continue;
      }
      // What survives is well formed.
      expect(loaded.state).to.be.oneOf(['code-sent', 'failed']);
      expect(Buffer.isBuffer(loaded.caRoot) && loaded.caRoot.length > 0).to.equal(true);
      for (const field of ['keyFingerprint', 'email', 'caUrl', 'caName', 'caFingerprint'] as const) expect(loaded[field]).to.be.a('string').and.not.equal('');
      expect(loaded.expiresAt === null || Number.isSafeInteger(loaded.expiresAt)).to.equal(true);
    }
    expect(dropped).to.be.greaterThan(0);
  });
});
