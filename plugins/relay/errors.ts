import { BitChatError } from '../../core/errors.js';

/** Errors of the relay plugin (codes `ERR_RELAY_*`). */
export class RelayError extends BitChatError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'RelayError';
  }

  static malformed(what: string): RelayError {
    return new RelayError('ERR_RELAY_MALFORMED', `malformed relay message: ${what}`);
  }

  static timeout(what: string): RelayError {
    return new RelayError('ERR_RELAY_TIMEOUT', `no answer from the relay: ${what}`);
  }

  static refused(status: number): RelayError {
    return new RelayError('ERR_RELAY_REFUSED', `the relay refused the request (status ${status})`);
  }

  static noDirectRoute(host: string, port: number): RelayError {
    return new RelayError('ERR_RELAY_NO_DIRECT_ROUTE', `${host}:${port} is reached through a relay, not directly`);
  }

  static closed(): RelayError {
    return new RelayError('ERR_RELAY_CLOSED', 'the relay connection closed');
  }
}
