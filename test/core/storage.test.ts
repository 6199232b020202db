import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StorageError } from '../../core/errors.js';
import { MigrationList, Storage, type Migration } from '../../core/storage.js';
import { makeTempDir } from '../helpers/temp-dir.js';

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}

describe('storage', () => {
  let temp: ReturnType<typeof makeTempDir>;
  const opened: Storage[] = [];
  const open = (path = join(temp.path, 'bitchat.db')): Storage => {
    const storage = new Storage(path);
    opened.push(storage);
    storage.open();
    return storage;
  };
  beforeEach(() => (temp = makeTempDir()));
  afterEach(() => {
    for (const storage of opened.splice(0)) storage.close();
    temp.cleanup();
  });

  const notes: Migration = { owner: 'core', id: '001-notes', up: (db) => db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)') };

  it('opens a real SQLite file in WAL mode with synchronous=NORMAL', () => {
    const storage = open();
    expect(storage.db.pragma('journal_mode', { simple: true })).to.equal('wal');
    expect(storage.db.pragma('synchronous', { simple: true })).to.equal(1);
  });

  it('applies each migration once, in order, across reopenings', () => {
    const storage = open();
    const second: Migration = { owner: 'core', id: '002-notes-author', up: (db) => db.exec('ALTER TABLE notes ADD COLUMN author TEXT') };
    expect(storage.migrate([notes, second])).to.deep.equal(['core/001-notes', 'core/002-notes-author']);
    storage.db.prepare('INSERT INTO notes (text, author) VALUES (?, ?)').run('hello', 'alice');
    storage.close();
    const again = open();
    expect(again.migrate([notes, second])).to.deep.equal([]);
    expect(again.db.prepare('SELECT text, author FROM notes').get()).to.deep.equal({ text: 'hello', author: 'alice' });
  });

  it('rolls back a failing migration entirely and names it', () => {
    const storage = open();
    const broken: Migration = {
      owner: 'some-plugin',
      id: '001-half',
      up: (db) => {
        db.exec('CREATE TABLE half (x)');
        db.exec('THIS IS NOT SQL');
      },
    };
    const err = catchError(() => storage.migrate([notes, broken])) as StorageError;
    expect(err).to.be.instanceOf(StorageError);
    expect(err.code).to.equal('ERR_STORAGE_MIGRATION_FAILED');
    expect(err.message).to.contain('some-plugin/001-half');
    const tables = storage.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((r) => (r as { name: string }).name);
    expect(tables).to.include('notes');
    expect(tables).not.to.include('half');
  });

  it('a second node on the same data folder gets ERR_STORAGE_LOCKED', () => {
    open();
    const err = catchError(() => open()) as StorageError;
    expect(err).to.be.instanceOf(StorageError);
    expect(err.code).to.equal('ERR_STORAGE_LOCKED');
    expect(err.message).to.contain('another bitchat node');
  });

  it('a file that is not a database gets ERR_STORAGE_CORRUPT', () => {
    const path = join(temp.path, 'bitchat.db');
    writeFileSync(path, Buffer.alloc(8192, 0x5a));
    const err = catchError(() => open(path)) as StorageError;
    expect(err).to.be.instanceOf(StorageError);
    expect(err.code).to.equal('ERR_STORAGE_CORRUPT');
    expect(err.message).to.contain('move it aside');
  });

  it('refuses the same migration registered twice', () => {
    const list = new MigrationList();
    list.add(notes);
    expect(() => list.add(notes)).to.throw(StorageError).with.property('code', 'ERR_STORAGE_MIGRATION_DUPLICATE');
  });
});
