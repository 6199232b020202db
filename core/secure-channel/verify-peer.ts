/**
 * Bridges the kernel's `hooks.verifyCertificate` (first tap with a verdict decides) to
 * the channel's `verifyPeer` option. Nobody answering means refusal: a certificate is
 * trusted only when some plugin (the identity layer) vouches for it.
 */
import type { KernelHooks } from '../hooks.js';
import type { NetworkId } from '../types.js';
import type { PeerVerdict, SecureChannelOptions } from './channel.js';

export const NO_VERDICT_CODE = 'ERR_CERT_NO_VERDICT';

export function verifyPeerWithHook(
  hook: Pick<KernelHooks['verifyCertificate'], 'promise'>,
  networkId?: NetworkId,
): SecureChannelOptions['verifyPeer'] {
  return async (chain, staple): Promise<PeerVerdict> => {
    const verdict = await hook.promise({
      chain,
      ...(staple ? { staple } : {}),
      ...(networkId !== undefined ? { networkId } : {}),
    });
    return verdict ?? { ok: false, code: NO_VERDICT_CODE, reason: 'no certificate verifier gave a verdict' };
  };
}
