import { BitChatError } from '../../core/errors.js';

/** Stable codes of the file-share plugin. */
export const FILE_SHARE_ERRORS = {
  /** A file or advertisement is larger than the configured or absolute limit. */
  TOO_LARGE: 'ERR_FILE_SHARE_TOO_LARGE',
  /** An advertisement is truncated, has trailing bytes or an unknown version/algorithm. */
  BAD_ADVERTISEMENT: 'ERR_FILE_SHARE_BAD_ADVERTISEMENT',
  /** A file name is empty, not UTF-8, too long, or tries a path trick. */
  BAD_NAME: 'ERR_FILE_SHARE_BAD_NAME',
  /** The block size or block table does not match the file size or exceeds the caps. */
  BAD_BLOCK_TABLE: 'ERR_FILE_SHARE_BAD_BLOCK_TABLE',
  /** A file-share chat message is malformed. */
  BAD_MESSAGE: 'ERR_FILE_SHARE_BAD_MESSAGE',
  /** A block-stream frame is malformed or larger than allowed. */
  BAD_FRAME: 'ERR_FILE_SHARE_BAD_FRAME',
  /** The disk is full: the block was not recorded, the download is paused. */
  DISK_FULL: 'ERR_FILE_SHARE_DISK_FULL',
  /** Writing or renaming a download failed for another reason. */
  WRITE_FAILED: 'ERR_FILE_SHARE_WRITE_FAILED',
  /** The file ID is not known to this node. */
  UNKNOWN_FILE: 'ERR_FILE_SHARE_UNKNOWN_FILE',
  /** The path to share is not a regular file. */
  NOT_A_FILE: 'ERR_FILE_SHARE_NOT_A_FILE',
  /** An operation was aborted by its caller. */
  ABORTED: 'ERR_FILE_SHARE_ABORTED',
  /** A resolved download path would leave the download folder. */
  PATH_ESCAPE: 'ERR_FILE_SHARE_PATH_ESCAPE',
  /** The operation does not fit the download's state (e.g. resume a finished file). */
  BAD_STATE: 'ERR_FILE_SHARE_BAD_STATE',
  /** `bitchat share --chat` names no joined chat. */
  UNKNOWN_CHAT: 'ERR_FILE_SHARE_UNKNOWN_CHAT',
  /** A path given over the control socket is not absolute (the node's working folder is not the caller's). */
  BAD_PATH: 'ERR_FILE_SHARE_BAD_PATH',
} as const;

export type FileShareErrorCode = (typeof FILE_SHARE_ERRORS)[keyof typeof FILE_SHARE_ERRORS];

/** Every error the file-share plugin throws. */
export class FileShareError extends BitChatError {
  constructor(code: FileShareErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'FileShareError';
  }
}
