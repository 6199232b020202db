import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { makeTempDir } from '../../helpers/temp-dir.js';
import { assertInside, numberedName, publishDownload, reserveDownloadPath, sanitizeFileName } from '../../../plugins/file-share/sanitize.js';
import { MAX_NAME_BYTES } from '../../../plugins/file-share/constants.js';
import { hasCode } from '../../../core/errors.js';

function isSafe(name: string): boolean {
  return name.length > 0 && name !== '.' && name !== '..' && !/[\u0000-\u001f\u007f/\\<>:"|?*]/.test(name) &&
    !/[. ]$/.test(name) && !name.startsWith('.') && Buffer.byteLength(name) <= MAX_NAME_BYTES &&
    !/^(con|prn|aux|nul|com\d|lpt\d)(\.|$)/i.test(name);
}

describe('file-share name sanitiser', () => {
  it('turns path tricks and reserved names into one plain component', () => {
    const table: Array<[string, string]> = [
      ['report.pdf', 'report.pdf'],
      ['../../etc/passwd', '__.._etc_passwd'],
      ['..', 'download'],
      ['.', 'download'],
      ['', 'download'],
      ['.bashrc', '_bashrc'],
      ['C:\\Windows\\win.ini', 'C__Windows_win.ini'],
      ['CON', '_CON'],
      ['con.txt', '_con.txt'],
      ['LPT1 .log', '_LPT1 .log'],
      ['notes.txt. . ', 'notes.txt'],
      ['a\u0000b\nc\u202ed', 'a_b_c_d'],
      ['what?<>|*".txt', 'what______.txt'],
    ];
    for (const [input, out] of table) expect(sanitizeFileName(input), JSON.stringify(input)).to.equal(out);
  });

  it('caps the length on a character boundary and keeps the extension', () => {
    const name = sanitizeFileName('é'.repeat(300) + '.tar');
    expect(Buffer.byteLength(name)).to.be.at.most(MAX_NAME_BYTES - 16);
    expect(name.endsWith('.tar')).to.equal(true);
    expect(name).to.not.include('\ufffd');
  });

  it('is deterministic and always safe on random input (fuzz)', () => {
    const alphabet = ['a', '.', '/', '\\', ' ', '\u0000', '\u202e', 'é', '😀', ':', 'CON', 'nul', '..', '\u0085'];
    for (let i = 0; i < 3000; i++) {
      let s = '';
      const len = i % 40;
      for (let j = 0; j < len; j++) s += alphabet[(i * 31 + j * 17 + (i >> 3)) % alphabet.length];
      if (i % 3 === 0) s = randomBytes(i % 300).toString('latin1');
      const out = sanitizeFileName(s);
      expect(isSafe(out), JSON.stringify(s) + ' -> ' + JSON.stringify(out)).to.equal(true);
      expect(sanitizeFileName(s)).to.equal(out);
      expect(sanitizeFileName(out)).to.equal(out);
    }
  });

  it('numbers names before the extension', () => {
    expect(numberedName('a.txt', 0)).to.equal('a.txt');
    expect(numberedName('a.txt', 2)).to.equal('a [2].txt');
    expect(numberedName('README', 1)).to.equal('README [1]');
  });
});

describe('file-share download paths', () => {
  let dir: ReturnType<typeof makeTempDir>;
  beforeEach(() => { dir = makeTempDir('fs-path-'); });
  afterEach(() => dir.cleanup());

  it('stays inside the folder, never overwrites, and steps around planted symlinks', async () => {
    writeFileSync(join(dir.path, 'a.txt'), 'mine');
    symlinkSync('/etc/passwd', join(dir.path, 'a [1].txt.part'));
    const r = await reserveDownloadPath(dir.path, '../a.txt');
    expect(basename(r.finalPath)).to.equal('__a.txt');
    const r2 = await reserveDownloadPath(dir.path, 'a.txt');
    expect(basename(r2.finalPath)).to.equal('a [2].txt');
    expect(existsSync(r2.partPath)).to.equal(true);
    writeFileSync(r2.partPath, 'downloaded');
    writeFileSync(r2.finalPath, 'someone else');
    const published = await publishDownload(r2.partPath, r2.finalPath);
    expect(basename(published)).to.equal('a [2] [1].txt');
    expect(readFileSync(join(dir.path, 'a.txt'), 'utf8')).to.equal('mine');
    expect(readFileSync(r2.finalPath, 'utf8')).to.equal('someone else');
    expect(readFileSync(published, 'utf8')).to.equal('downloaded');
    expect(readdirSync(dir.path).every((f) => !f.includes('/'))).to.equal(true);
  });

  it('refuses paths that leave the folder', () => {
    for (const p of [join(dir.path, '..', 'x'), '/etc/passwd', dir.path, join(dir.path, 'a', 'b')]) {
      let err: unknown;
      try { assertInside(dir.path, p); } catch (e) { err = e; }
      expect(hasCode(err, 'ERR_FILE_SHARE_PATH_ESCAPE'), p).to.equal(true);
    }
    assertInside(dir.path, join(dir.path, 'ok.txt'));
  });
});
