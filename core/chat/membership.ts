/**
 * Who may hold a session in a chat (spec §4.1, §9.5).
 *
 * - Group: anyone whose secure channel proved the PSK (checked below us) may join.
 * - Private: the certificate identity must be the known peer; if the peer is not yet
 *   known (invitation), the network ID derived from (self, certificate e-mail, secret)
 *   must be this chat's. Either way, the user's own e-mail is accepted: it is another
 *   of the user's devices.
 */
import { ChatError, ERR_CHAT_NOT_MEMBER } from './errors.js';
import { derivePrivateKeys, normaliseName } from './network-id.js';

export type Admission = 'member' | 'own-device';

export interface MembershipPolicy {
  kind: 'group' | 'private';
  networkId: Buffer;
  selfIdentity: string;
  /** Private chat: the peer's e-mail, when known. */
  peerIdentity?: string;
  /** Private chat, peer unknown: the shared secret to re-derive the network ID. */
  sharedSecret?: string;
}

export async function admitIdentity(policy: MembershipPolicy, certificateIdentity: string): Promise<Admission> {
  const who = normaliseName(certificateIdentity);
  if (who === normaliseName(policy.selfIdentity)) return 'own-device';
  if (policy.kind === 'group') return 'member';
  if (policy.peerIdentity !== undefined) {
    if (who === normaliseName(policy.peerIdentity)) return 'member';
    throw new ChatError(ERR_CHAT_NOT_MEMBER, `certificate ${who} is not the peer of this private chat`);
  }
  let derived: Buffer;
  try {
    derived = (await derivePrivateKeys(policy.selfIdentity, who, policy.sharedSecret)).networkId;
  } catch (cause) {
    throw new ChatError(ERR_CHAT_NOT_MEMBER, `certificate identity ${who} cannot be a private chat peer`, { cause });
  }
  if (!derived.equals(policy.networkId)) throw new ChatError(ERR_CHAT_NOT_MEMBER, `certificate ${who} does not derive this private chat's ID`);
  return 'member';
}
