import { BitChatError } from '../../core/errors.js';

/** Codes of the LAN discovery plugin. */
export const LAN_ERROR_CODES = Object.freeze({
  /** A datagram is shorter or longer than its type's fixed size. */
  PACKET_LENGTH: 'ERR_LAN_PACKET_LENGTH',
  /** The first byte is no known packet type. */
  PACKET_TYPE: 'ERR_LAN_PACKET_TYPE',
  /** The version byte is not ours. */
  PACKET_VERSION: 'ERR_LAN_PACKET_VERSION',
  /** A response carries service port 0, or a timestamp is out of range. */
  PACKET_FIELD: 'ERR_LAN_PACKET_FIELD',
  /** A network ID handed to the service is not 20 bytes, or a port is out of range. */
  BAD_ARGUMENT: 'ERR_LAN_BAD_ARGUMENT',
  /** Too many networks announced at once. */
  TOO_MANY_NETWORKS: 'ERR_LAN_TOO_MANY_NETWORKS',
});

export type LanErrorCode = (typeof LAN_ERROR_CODES)[keyof typeof LAN_ERROR_CODES];

/** Any error raised by the LAN discovery plugin. */
export class LanDiscoveryError extends BitChatError {
  constructor(code: LanErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'LanDiscoveryError';
  }
}
