import { expect } from 'chai';
import {
  HandshakeStatus,
  decodeEpn,
  decodeHandshakeRequest,
  decodeHandshakeResponse,
  encodeEpn,
  encodeHandshakeRequest,
  encodeHandshakeResponse,
  endpointKey,
  normalizeHost,
  prefers,
} from '../../../core/connection/index.js';

const ID = Buffer.alloc(20, 0x11);

describe('connection/handshake and end point codecs', () => {
  it('encodes the handshake test vectors', () => {
    expect(encodeHandshakeRequest({ peerId: ID, servicePort: 0x1234 }).toString('hex')).to.equal('03' + '11'.repeat(20) + '3412');
    expect(encodeHandshakeResponse({ status: HandshakeStatus.DUPLICATE, peerId: ID }).toString('hex')).to.equal('01' + '11'.repeat(20));
    const req = decodeHandshakeRequest(Buffer.from('03' + '11'.repeat(20) + '3412', 'hex'));
    expect(req.servicePort).to.equal(0x1234);
    expect(req.peerId.equals(ID)).to.equal(true);
    expect(decodeHandshakeResponse(Buffer.from('00' + '11'.repeat(20), 'hex')).status).to.equal(HandshakeStatus.OK);
  });

  it('refuses other versions, lengths and statuses with typed errors', () => {
    // 1 is the original's; 2 (fixed 256 KiB windows) would call a grown window a protocol error.
    for (const version of ['01', '02']) {
      expect(() => decodeHandshakeRequest(Buffer.from(version + '11'.repeat(20) + '3412', 'hex'))).to.throw().with.property('code', 'ERR_CONNECTION_HANDSHAKE_VERSION');
    }
    expect(() => decodeHandshakeRequest(Buffer.alloc(5))).to.throw().with.property('code', 'ERR_CONNECTION_HANDSHAKE_MALFORMED');
    expect(() => decodeHandshakeResponse(Buffer.from('07' + '11'.repeat(20), 'hex'))).to.throw().with.property('code', 'ERR_CONNECTION_HANDSHAKE_MALFORMED');
  });

  it('encodes EPN names for IPv4 and IPv6 and reads them back', () => {
    expect(encodeEpn({ host: '192.168.1.2', port: 0x1f90 }).toString('hex')).to.equal('00c0a80102901f' + '00'.repeat(13));
    expect(encodeEpn({ host: '::1', port: 80 }).toString('hex')).to.equal('01' + '00'.repeat(15) + '01' + '5000' + '00');
    expect(decodeEpn(encodeEpn({ host: '2001:db8::7', port: 9 }))).to.deep.equal({ host: '2001:db8::7', port: 9 });
    expect(decodeEpn(encodeEpn({ host: '::ffff:10.0.0.1', port: 5 }))).to.deep.equal({ host: '10.0.0.1', port: 5 });
    expect(() => encodeEpn({ host: 'example.org', port: 1 })).to.throw().with.property('code', 'ERR_TUNNEL_BAD_ENDPOINT');
    const bad = encodeEpn({ host: '1.2.3.4', port: 1 });
    bad[19] = 1;
    expect(() => decodeEpn(bad)).to.throw().with.property('code', 'ERR_TUNNEL_BAD_ENDPOINT');
  });

  it('normalises hosts so one end point has one key', () => {
    expect(normalizeHost('::ffff:127.0.0.1')).to.equal('127.0.0.1');
    expect(normalizeHost('[FE80::1%eth0]')).to.equal('fe80::1');
    expect(endpointKey({ host: '0:0:0:0:0:0:0:1', port: 4 })).to.equal('[::1]:4');
  });

  it('prefers real over virtual, then the lower initiator, else the existing link', () => {
    const low = Buffer.alloc(20, 1);
    const high = Buffer.alloc(20, 2);
    expect(prefers({ virtual: false, initiatorPeerId: high }, { virtual: true, initiatorPeerId: low })).to.equal(true);
    expect(prefers({ virtual: true, initiatorPeerId: low }, { virtual: false, initiatorPeerId: high })).to.equal(false);
    expect(prefers({ virtual: false, initiatorPeerId: low }, { virtual: false, initiatorPeerId: high })).to.equal(true);
    expect(prefers({ virtual: false, initiatorPeerId: high }, { virtual: false, initiatorPeerId: low })).to.equal(false);
    expect(prefers({ virtual: false, initiatorPeerId: low }, { virtual: false, initiatorPeerId: low })).to.equal(false);
  });
});
