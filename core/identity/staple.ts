import { parseCertificate } from './certificate.js';
import { CaClient } from './ca/client.js';
import { IdentityError } from './errors.js';
import type { Profile } from './profile.js';
import { checkStaple, type StapleState } from './revocation.js';

/**
 * Fetches a fresh revocation status for the profile's own certificate from its
 * CA and keeps it in `profile.staple` for handshakes. A revoked own certificate
 * throws ERR_CERT_REVOKED (the node must not go on using it, PROTOCOL.md §7.3);
 * a forged answer throws ERR_REVOCATION_FORGED and leaves the old staple.
 * Self-issued profiles have nothing to staple and return 'missing'.
 */
export async function refreshOwnStaple(profile: Profile, client?: CaClient): Promise<StapleState> {
  if (profile.kind !== 'ca' || profile.certificateChain.length < 2) return 'missing';
  const url = profile.caUrl;
  if (client === undefined && url === undefined) throw new IdentityError('ERR_REVOCATION_UNAVAILABLE', 'the profile does not name its CA');
  const ca = client ?? new CaClient(url!);
  const leaf = profile.leaf;
  const issuer = parseCertificate(profile.certificateChain[1]!);
  const status = await ca.fetchStatus(leaf.serial);
  const check = checkStaple(status, leaf, issuer);
  if (check.state === 'revoked') throw new IdentityError('ERR_CERT_REVOKED', `own certificate ${leaf.serial} is revoked (${check.reason ?? ''})`);
  if (check.state !== 'good') throw new IdentityError('ERR_REVOCATION_FORGED', `the CA's answer is ${check.state}: ${check.reason ?? ''}`);
  profile.staple = status;
  return 'good';
}
