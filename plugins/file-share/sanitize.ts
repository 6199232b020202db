/**
 * File names from the network become local paths only through here. The
 * sanitiser is deterministic (same input, same output on every OS) and its
 * output is always one plain path component that Windows, macOS and Linux all
 * accept; `reserveDownloadPath` then proves the path is inside the download
 * folder and claims a name that no existing file has.
 */
import { constants as FS, promises as fsp } from 'node:fs';
import { extname, isAbsolute, join, relative, resolve } from 'node:path';
import { MAX_NAME_BYTES } from './constants.js';
import { FILE_SHARE_ERRORS, FileShareError } from './errors.js';

/** Name used when nothing of the advertised name survives. */
export const FALLBACK_NAME = 'download';
/** Suffix of a download in progress. */
export const PART_SUFFIX = '.part';
/** How many ` [n]` variants to try before giving up. */
const MAX_NAME_TRIES = 1_000;
/** Room left in MAX_NAME_BYTES for ` [999]` and `.part`. */
const SUFFIX_ROOM = 16;

// Controls, separators, characters Windows forbids, and bidi/format characters that disguise a name.
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f/\\<>:"|?*\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/gu;
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)$/i;

function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  let out = '';
  let bytes = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > maxBytes) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/** One safe path component from any string; never empty, never `.`/`..`, at most MAX_NAME_BYTES - SUFFIX_ROOM bytes. */
export function sanitizeFileName(input: string): string {
  let name = input.normalize('NFC').replace(UNSAFE_CHARS, '_');
  // Trailing dots and spaces are dropped by Windows, so "a.txt." would become another file.
  name = name.replace(/[. ]+$/u, '');
  // A leading dot hides the file (and covers "." and ".."); leading spaces confuse shells.
  name = name.replace(/^[. ]+/u, (m) => '_'.repeat(Math.min(m.length, 1)));
  if (name.length === 0) name = FALLBACK_NAME;
  const stem = name.split('.')[0]!.trimEnd();
  if (WINDOWS_RESERVED.test(stem)) name = `_${name}`;
  const limit = MAX_NAME_BYTES - SUFFIX_ROOM;
  if (Buffer.byteLength(name, 'utf8') > limit) {
    let ext = extname(name);
    if (Buffer.byteLength(ext, 'utf8') > 32) ext = '';
    const base = truncateUtf8(name.slice(0, name.length - ext.length), limit - Buffer.byteLength(ext, 'utf8'));
    name = (base.replace(/[. ]+$/u, '') || FALLBACK_NAME) + ext;
  }
  return name;
}

/** `name [n].ext` for n >= 1. */
export function numberedName(name: string, n: number): string {
  if (n === 0) return name;
  const ext = extname(name);
  const stem = ext.length > 0 && ext.length < name.length ? name.slice(0, -ext.length) : name;
  return `${stem} [${n}]${stem === name ? '' : ext}`;
}

/** Throws ERR_FILE_SHARE_PATH_ESCAPE unless `path` is a direct child of `dir`. */
export function assertInside(dir: string, path: string): void {
  const rel = relative(resolve(dir), resolve(path));
  if (rel.length === 0 || rel.startsWith('..') || isAbsolute(rel) || rel.includes('/') || rel.includes('\\')) {
    throw new FileShareError(FILE_SHARE_ERRORS.PATH_ESCAPE, `path ${path} is not inside ${dir}`);
  }
}

export interface ReservedPath {
  /** Where the finished file will go. */
  finalPath: string;
  /** The `.part` file, already created empty and owned by this download. */
  partPath: string;
}

/**
 * Picks `<dir>/<safe name>` (or `name [n].ext`) such that neither it nor its
 * `.part` exists, and creates the `.part` exclusively (O_EXCL, so a racing
 * download or a planted symlink makes us move on instead of overwriting).
 */
export async function reserveDownloadPath(dir: string, advertisedName: string): Promise<ReservedPath> {
  const root = resolve(dir);
  await fsp.mkdir(root, { recursive: true });
  const safe = sanitizeFileName(advertisedName);
  for (let n = 0; n < MAX_NAME_TRIES; n++) {
    const finalPath = join(root, numberedName(safe, n));
    const partPath = finalPath + PART_SUFFIX;
    assertInside(root, finalPath);
    assertInside(root, partPath);
    if (await exists(finalPath)) continue;
    try {
      const handle = await fsp.open(partPath, FS.O_CREAT | FS.O_EXCL | FS.O_WRONLY, 0o600);
      await handle.close();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw err;
    }
    return { finalPath, partPath };
  }
  throw new FileShareError(FILE_SHARE_ERRORS.WRITE_FAILED, `no free name for ${safe} in ${root}`);
}

/** Moves a finished `.part` to a free final name without ever replacing a file (link + unlink). */
export async function publishDownload(partPath: string, finalPath: string): Promise<string> {
  const dir = resolve(finalPath, '..');
  const wanted = finalPath.slice(dir.length + 1);
  for (let n = 0; n < MAX_NAME_TRIES; n++) {
    const candidate = join(dir, numberedName(wanted, n));
    assertInside(dir, candidate);
    try {
      await fsp.link(partPath, candidate);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw err;
    }
    await fsp.unlink(partPath);
    return candidate;
  }
  throw new FileShareError(FILE_SHARE_ERRORS.WRITE_FAILED, `no free name for ${wanted} in ${dir}`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await fsp.lstat(path);
    return true;
  } catch {
    return false;
  }
}
