import { BitChatError } from '../../core/errors.js';

/** Errors of the DHT discovery plugin (codes `ERR_DHT_*`). */
export class DhtError extends BitChatError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'DhtError';
  }

  static notStarted(): DhtError {
    return new DhtError('ERR_DHT_NOT_STARTED', 'the DHT is not running (start it first)');
  }

  static badNetworkId(length: number): DhtError {
    return new DhtError('ERR_DHT_BAD_NETWORK_ID', `a network ID is 20 bytes, got ${length}`);
  }

  static badPort(port: unknown): DhtError {
    return new DhtError('ERR_DHT_BAD_PORT', `announce port must be 1-65535, got ${String(port)}`);
  }

  static tooManyNetworks(max: number): DhtError {
    return new DhtError('ERR_DHT_TOO_MANY_NETWORKS', `at most ${max} networks can be announced at once`);
  }
}
