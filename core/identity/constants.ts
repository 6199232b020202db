/** Key size of every key this project generates (the paper's). */
export const RSA_BITS = 4096;
/** Smallest RSA modulus accepted from imported keys and peers' certificates. */
export const MIN_RSA_BITS = 2048;
/** RSA public exponent of generated keys. */
export const RSA_PUBLIC_EXPONENT = 0x10001;
/** Tolerated clock difference between peers when checking validity windows (5 min). */
export const CLOCK_SKEW_MS = 5 * 60 * 1000;
/** Cap on one DER certificate from the network. */
export const MAX_CERT_BYTES = 16 * 1024;
/** Cap on certificates in a chain (leaf, intermediates, optionally the root). */
export const MAX_CHAIN_LENGTH = 4;
/** Default lifetime of a user certificate issued by a CA (1 year). */
export const USER_CERT_DAYS = 365;
/** Default lifetime of a self-issued profile certificate (5 years; pinning, not expiry, protects it). */
export const SELF_CERT_DAYS = 5 * 365;
/** Default lifetime of a CA root (10 years). */
export const CA_CERT_DAYS = 10 * 365;
/** Bytes of random serial numbers (positive: top bit cleared). */
export const SERIAL_BYTES = 16;
/** How often key generation / KDF progress callbacks tick. */
export const PROGRESS_INTERVAL_MS = 100;
