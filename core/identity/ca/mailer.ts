import nodemailer from 'nodemailer';
import { IdentityError } from '../errors.js';
import type { CaSmtpConfig } from './config.js';

/** Sends verification codes; one transport per CA (pooled SMTP connections). */
export interface VerificationMailer {
  sendCode(to: string, code: string, caName: string): Promise<void>;
  close(): void;
  readonly stats: { sent: number; failed: number };
}

/** A nodemailer SMTP transport from the CA config. Codes never reach the logs. */
export function createSmtpMailer(smtp: CaSmtpConfig): VerificationMailer {
  const transport = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure ?? false,
    requireTLS: smtp.requireTLS ?? false,
    ...(smtp.auth ? { auth: smtp.auth } : {}),
    tls: { rejectUnauthorized: !(smtp.allowInvalidCertificates ?? false) },
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  });
  const stats = { sent: 0, failed: 0 };
  return {
    stats,
    async sendCode(to, code, caName) {
      try {
        await transport.sendMail({
          from: smtp.from,
          to,
          subject: `${caName}: your bitchat verification code`,
          text: `Your verification code is ${code}\n\nEnter it in bitchat to receive your profile certificate. It expires in 15 minutes.\nIf you did not ask for it, ignore this mail.\n`,
        });
        stats.sent++;
      } catch (err) {
        stats.failed++;
        throw new IdentityError('ERR_CA_MAIL_FAILED', `could not send the verification mail: ${(err as Error).message}`, { cause: err });
      }
    },
    close() {
      transport.close();
    },
  };
}
