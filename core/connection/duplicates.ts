/**
 * The duplicate-connection rule (PROTOCOL.md §1.4, made deterministic as §1.11 asks).
 *
 * When two connections link the same pair of nodes, both nodes keep the same one:
 * 1. a real (TCP) connection beats a virtual (tunnel) one;
 * 2. otherwise the connection whose initiator has the lower peer ID wins;
 * 3. otherwise (same initiator) the one registered first stays.
 *
 * Both ends know both facts about every connection (virtual or not, who initiated),
 * so they reach the same verdict without talking, whatever order the handshakes
 * finish in: no race leaves two connections, and the winner is never dropped.
 */

export interface DuplicateCandidate {
  readonly virtual: boolean;
  readonly initiatorPeerId: Buffer;
}

/** True when `candidate` should replace `existing` as the connection between two nodes. */
export function prefers(candidate: DuplicateCandidate, existing: DuplicateCandidate): boolean {
  if (candidate.virtual !== existing.virtual) return !candidate.virtual;
  return Buffer.compare(candidate.initiatorPeerId, existing.initiatorPeerId) < 0;
}
