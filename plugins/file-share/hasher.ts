/**
 * Hashes a file into the advertisement: one SHA-256 per block (block size from
 * `chooseBlockSize`), then the file ID over the encoded advertisement. Reads
 * stream in block-sized chunks, so a large file never sits in memory and the
 * event loop gets a turn between chunks.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { HASH_ALGORITHM } from './constants.js';
import { FILE_SHARE_ERRORS, FileShareError } from './errors.js';
import { chooseBlockSize, encodeMetadata, fileIdOf, type FileMetadata } from './metadata.js';
import { mimeTypeOf } from './mime.js';

/** Largest single read: bounds memory per read for huge blocks. */
const MAX_READ_CHUNK = 4 * 1024 * 1024;
/** Usual read: large reads cost far less per byte than block-sized ones. */
const READ_CHUNK = 1024 * 1024;

export interface HashProgress {
  bytesHashed: number;
  size: number;
}

export interface HashOptions {
  /** Name to advertise. @default the file's base name */
  name?: string;
  /** @default from the extension */
  mimeType?: string;
  /** Called after each chunk. */
  onProgress?(progress: HashProgress): void;
  signal?: AbortSignal;
}

export interface HashedFile {
  fileId: Buffer;
  metadata: FileMetadata;
  /** The encoded advertisement (what goes in the chat message). */
  advertisement: Buffer;
}

export async function hashFile(path: string, options: HashOptions = {}): Promise<HashedFile> {
  const info = await stat(path);
  if (!info.isFile()) throw new FileShareError(FILE_SHARE_ERRORS.NOT_A_FILE, `${path} is not a regular file`);
  const size = info.size;
  const blockSize = chooseBlockSize(size);
  const name = options.name ?? basename(path);
  const blockHashes: Buffer[] = [];
  let hash = createHash(HASH_ALGORITHM);
  let inBlock = 0;
  let bytesHashed = 0;
  const stream = createReadStream(path, {
    highWaterMark: Math.min(Math.max(blockSize, READ_CHUNK), MAX_READ_CHUNK),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let off = 0;
      while (off < chunk.length) {
        const take = Math.min(chunk.length - off, blockSize - inBlock);
        hash.update(chunk.subarray(off, off + take));
        off += take;
        inBlock += take;
        if (inBlock === blockSize) {
          blockHashes.push(hash.digest());
          hash = createHash(HASH_ALGORITHM);
          inBlock = 0;
        }
      }
      bytesHashed += chunk.length;
      options.onProgress?.({ bytesHashed, size });
    }
  } catch (err) {
    if (options.signal?.aborted) throw new FileShareError(FILE_SHARE_ERRORS.ABORTED, `hashing ${path} was aborted`, { cause: err });
    throw err;
  }
  if (inBlock > 0) blockHashes.push(hash.digest());
  if (bytesHashed !== size) {
    throw new FileShareError(FILE_SHARE_ERRORS.BAD_STATE, `${path} changed size while it was hashed (${size} -> ${bytesHashed})`);
  }
  const metadata: FileMetadata = {
    name,
    mimeType: options.mimeType ?? mimeTypeOf(name),
    mtime: Math.floor(info.mtimeMs / 1000),
    size,
    blockSize,
    blockHashes,
  };
  const advertisement = encodeMetadata(metadata);
  return { fileId: fileIdOf(advertisement), metadata, advertisement };
}
