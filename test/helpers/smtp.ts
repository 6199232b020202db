/** A real SMTP server on 127.0.0.1 for tests of the CA's verification mail (smtp-server). */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface Mail {
  to: string[];
  body: string;
}

/** A real SMTP server on 127.0.0.1 that keeps what it receives. */
export async function startSmtp(): Promise<{ server: SMTPServer; port: number; mails: Mail[]; waitFor(to: string): Promise<Mail> }> {
  const mails: Mail[] = [];
  const waiters: (() => void)[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address), body: Buffer.concat(chunks).toString('utf8') });
        waiters.splice(0).forEach((w) => w());
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = ((server as unknown as { server: { address(): AddressInfo } }).server.address()).port;
  const waitFor = async (to: string): Promise<Mail> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const mail = mails.find((m) => m.to.includes(to));
      if (mail !== undefined) {
        mails.splice(mails.indexOf(mail), 1);
        return mail;
      }
      if (Date.now() > deadline) throw new Error(`no mail for ${to}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  };
  return { server, port, mails, waitFor };
}

/** The 8-digit code in a CA's verification mail. */
export function codeFrom(mail: Mail): string {
  const m = /verification code is (\d{8})/.exec(mail.body);
  if (m === null) throw new Error('no code in mail');
  return m[1]!;
}

