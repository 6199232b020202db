/** Identity: profile certificates, chain verification, pins, revocation staples, profile file, CA. */
export { IdentityError, IDENTITY_ERROR_CODES, type IdentityErrorCode } from './errors.js';
export { generateRsaKeyPair, importRsaPrivateKeyPem, exportPrivateKeyPem, exportPublicKeyPem, spkiDer, samePublicKey, type RsaKeyPair } from './keys.js';
export type { ProgressEvent, ProgressHook } from './progress.js';
export {
  createSelfIssuedCertificate,
  createCaCertificate,
  issueUserCertificate,
  createCertificateRequest,
  parseCertificate,
  certificateToPem,
  certificatesFromPem,
  type CertificateInfo,
  type SubjectProfile,
} from './certificate.js';
export { verifyChain, type ChainMode, type VerifiedChain } from './chain.js';
export { keyFingerprint, keyFingerprintHex, safetyNumber, pairSafetyNumber } from './fingerprint.js';
export { PinStore, type PinRecord, type PendingKeyChange, type PinStoreData } from './pins.js';
export { signRevocationStatus, decodeRevocationStatus, checkStaple, type StapleCheck, type StapleState } from './revocation.js';
export { createCertificateVerifier, verifierAsHookTap, type CertificateVerifier, type CertificateVerifierOptions, type PeerVerdict, type RevocationPolicy, type RevocationMode } from './verifier.js';
export { refreshOwnStaple } from './staple.js';
export { Profile, loadProfile, saveProfile, type ProfileKind } from './profile.js';
export { sealProfile, openProfile } from './profile-file.js';
export { CertificateAuthority } from './ca/authority.js';
export { CaClient } from './ca/client.js';
export { createCaServer } from './ca/server.js';
export { addIdentityCommands } from './cli.js';
