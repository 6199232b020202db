import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IdentityError } from '../errors.js';

/** How the CA reaches its SMTP server (nodemailer transport options). */
export interface CaSmtpConfig {
  host: string;
  port: number;
  /** TLS from the first byte (port 465). @default false */
  secure?: boolean;
  /** Refuse to send without STARTTLS. @default false */
  requireTLS?: boolean;
  /** Accept self-signed SMTP server certificates. @default false */
  allowInvalidCertificates?: boolean;
  auth?: { user: string; pass: string };
  /** Sender address of verification mails. */
  from: string;
}

/** `ca.json` in the CA's folder. */
export interface CaConfig {
  name: string;
  listen: { host: string; port: number };
  /** URL peers use to reach this CA (written into nothing signed; for clients). */
  publicUrl?: string;
  smtp: CaSmtpConfig;
  /** Lifetime of issued user certificates. @default 365 */
  certDays: number;
  limits: {
    /** Verification requests per address per hour. @default 3 */
    perAddressPerHour: number;
    /** Verification requests per client IP per hour. @default 20 */
    perIpPerHour: number;
    /** Wrong codes before a request is dead. @default 5 */
    maxTries: number;
    /** How long a code is valid. @default 15 min */
    codeTtlMs: number;
  };
}

export const CA_CONFIG_FILE = 'ca.json';
export const CA_KEY_FILE = 'ca.key.pem';
export const CA_CERT_FILE = 'ca.cert.pem';
export const CA_DB_FILE = 'ca.sqlite';

export const DEFAULT_CA_LIMITS: CaConfig['limits'] = { perAddressPerHour: 3, perIpPerHour: 20, maxTries: 5, codeTtlMs: 15 * 60 * 1000 };

export function defaultCaConfig(name: string, smtp: CaSmtpConfig): CaConfig {
  return { name, listen: { host: '127.0.0.1', port: 7448 }, smtp, certDays: 365, limits: { ...DEFAULT_CA_LIMITS } };
}

/** Reads and checks `ca.json`; a wrong field names the file and the key. */
export async function readCaConfig(dir: string): Promise<CaConfig> {
  const file = join(dir, CA_CONFIG_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new IdentityError('ERR_CA_NOT_INITIALISED', `cannot read ${file}: run "bitchat ca init" first`, { cause: err });
  }
  const c = raw as Partial<CaConfig>;
  const bad = (key: string, expected: string): never => {
    throw new IdentityError('ERR_CA_BAD_REQUEST', `${file}: "${key}" must be ${expected}`);
  };
  if (typeof c.name !== 'string' || c.name === '') bad('name', 'a non-empty string');
  if (typeof c.listen?.host !== 'string' || !Number.isInteger(c.listen.port)) bad('listen', '{ host: string, port: integer }');
  if (typeof c.smtp?.host !== 'string' || !Number.isInteger(c.smtp.port) || typeof c.smtp.from !== 'string') bad('smtp', '{ host, port, from }');
  return {
    ...c,
    certDays: typeof c.certDays === 'number' ? c.certDays : 365,
    limits: { ...DEFAULT_CA_LIMITS, ...(c.limits ?? {}) },
  } as CaConfig;
}
