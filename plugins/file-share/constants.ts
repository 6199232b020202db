/** Hash of every block and of the file ID. */
export const HASH_ALGORITHM = 'sha256';
/** Bytes of one SHA-256 digest. */
export const HASH_LENGTH = 32;
/** Id of SHA-256 in the advertisement's algorithm byte (the only one defined). */
export const HASH_ALGORITHM_ID = 1;

/** Largest chat message (spec §4.2: 65 504 - 32); an advertisement must fit in one. */
export const MAX_MESSAGE_SIZE = 65_472;
/**
 * Most blocks a file may have: 63 488 bytes of hash table (the spec's own budget) / 32.
 * With the fixed header (<= 406 bytes) the advertisement stays under MAX_MESSAGE_SIZE.
 */
export const MAX_BLOCKS = 1_984;
/** Smallest block: small enough that a 64 KiB file is one block, big enough to keep per-block overhead low. */
export const MIN_BLOCK_SIZE = 64 * 1024;
/** Largest block: caps what one request ties up in memory; with MAX_BLOCKS it bounds a file at 124 GiB. */
export const MAX_BLOCK_SIZE = 64 * 1024 * 1024;
/** Largest file any advertisement may describe (options may lower it). */
export const MAX_FILE_SIZE = MAX_BLOCKS * MAX_BLOCK_SIZE;

/** Advertisement format version written by this code. */
export const METADATA_VERSION = 2;
/** File names are at most this many UTF-8 bytes (spec: u8 length). */
export const MAX_NAME_BYTES = 255;
/** MIME types are at most this many ASCII bytes. */
export const MAX_MIME_BYTES = 127;

/** The plugin's name: owner of its message types, migrations and taps. */
export const PLUGIN_NAME = 'file-share';
