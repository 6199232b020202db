import { BitChatError } from '../../core/errors.js';

/** Errors of the tracker discovery plugin (codes `ERR_TRACKER_*`). */
export class TrackerError extends BitChatError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'TrackerError';
  }

  static badNetworkId(length: number): TrackerError {
    return new TrackerError('ERR_TRACKER_BAD_NETWORK_ID', `a network ID is 20 bytes, got ${length}`);
  }

  static badPort(port: unknown): TrackerError {
    return new TrackerError('ERR_TRACKER_BAD_PORT', `announce port must be 1-65535, got ${String(port)}`);
  }

  static badUrl(url: string, why: string): TrackerError {
    return new TrackerError('ERR_TRACKER_BAD_URL', `tracker URL "${url}" refused: ${why}`);
  }

  static notStarted(): TrackerError {
    return new TrackerError('ERR_TRACKER_NOT_STARTED', 'the tracker service is not running (start it first)');
  }

  static tooMany(what: string, max: number): TrackerError {
    return new TrackerError('ERR_TRACKER_TOO_MANY', `at most ${max} ${what}`);
  }
}
