import Database from 'better-sqlite3';

/** A verification request waiting for its e-mailed code. */
export interface RequestRow {
  id: string;
  email: string;
  name: string;
  location: string | null;
  website: string | null;
  public_key: Buffer;
  code_hash: Buffer;
  tries: number;
  ip: string;
  created_at: number;
  expires_at: number;
  state: 'pending' | 'issued' | 'failed';
  serial: string | null;
}

/** An issued certificate and its revocation state. */
export interface CertificateRow {
  serial: string;
  email: string;
  name: string;
  der: Buffer;
  issued_at: number;
  not_after: number;
  revoked_at: number | null;
  revocation_reason: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS requests (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL,
  name TEXT NOT NULL,
  location TEXT,
  website TEXT,
  public_key BLOB NOT NULL,
  code_hash BLOB NOT NULL,
  tries INTEGER NOT NULL DEFAULT 0,
  ip TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  state TEXT NOT NULL,
  serial TEXT
);
CREATE INDEX IF NOT EXISTS requests_by_email ON requests(email, created_at);
CREATE INDEX IF NOT EXISTS requests_by_ip ON requests(ip, created_at);
CREATE TABLE IF NOT EXISTS certificates (
  serial TEXT PRIMARY KEY,
  email TEXT NOT NULL,
  name TEXT NOT NULL,
  der BLOB NOT NULL,
  issued_at INTEGER NOT NULL,
  not_after INTEGER NOT NULL,
  revoked_at INTEGER,
  revocation_reason TEXT
);
CREATE INDEX IF NOT EXISTS certificates_by_email ON certificates(email);
`;

/** The CA's state in SQLite: requests, issued and revoked certificates. */
export class CaStore {
  private readonly db: Database.Database;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // A lost issuance or revocation is worse than a slow one.
    this.db.pragma('synchronous = FULL');
    this.db.exec(SCHEMA);
  }

  insertRequest(row: Omit<RequestRow, 'tries' | 'state' | 'serial'>): void {
    this.db
      .prepare(
        `INSERT INTO requests (id, email, name, location, website, public_key, code_hash, tries, ip, created_at, expires_at, state)
         VALUES (@id, @email, @name, @location, @website, @public_key, @code_hash, 0, @ip, @created_at, @expires_at, 'pending')`,
      )
      .run(row);
  }

  getRequest(id: string): RequestRow | undefined {
    return this.db.prepare('SELECT * FROM requests WHERE id = ?').get(id) as RequestRow | undefined;
  }

  countRequestsByEmail(email: string, since: number): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM requests WHERE email = ? AND created_at >= ?').get(email, since) as { n: number }).n;
  }

  countRequestsByIp(ip: string, since: number): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM requests WHERE ip = ? AND created_at >= ?').get(ip, since) as { n: number }).n;
  }

  /** Counts a wrong code; returns the tries made so far. */
  addTry(id: string): number {
    this.db.prepare('UPDATE requests SET tries = tries + 1 WHERE id = ?').run(id);
    return this.getRequest(id)?.tries ?? 0;
  }

  setRequestState(id: string, state: RequestRow['state']): void {
    this.db.prepare('UPDATE requests SET state = ? WHERE id = ?').run(state, id);
  }

  /**
   * Records a new certificate and, in the same transaction, revokes every
   * earlier unrevoked certificate for the same address (re-registration).
   * Returns the revoked serials.
   */
  recordIssued(cert: Omit<CertificateRow, 'revoked_at' | 'revocation_reason'>, requestId: string | null): string[] {
    const tx = this.db.transaction((): string[] => {
      const previous = this.db
        .prepare('SELECT serial FROM certificates WHERE email = ? AND revoked_at IS NULL')
        .all(cert.email) as { serial: string }[];
      this.db.prepare("UPDATE certificates SET revoked_at = ?, revocation_reason = 'superseded' WHERE email = ? AND revoked_at IS NULL").run(cert.issued_at, cert.email);
      this.db
        .prepare('INSERT INTO certificates (serial, email, name, der, issued_at, not_after) VALUES (@serial, @email, @name, @der, @issued_at, @not_after)')
        .run(cert);
      if (requestId !== null) this.db.prepare("UPDATE requests SET state = 'issued', serial = ? WHERE id = ?").run(cert.serial, requestId);
      return previous.map((p) => p.serial);
    });
    return tx();
  }

  getCertificate(serial: string): CertificateRow | undefined {
    return this.db.prepare('SELECT * FROM certificates WHERE serial = ?').get(serial) as CertificateRow | undefined;
  }

  /** Returns false when the serial is unknown; an already revoked certificate keeps its first revocation time. */
  revoke(serial: string, reason: string, at: number): boolean {
    const row = this.getCertificate(serial);
    if (row === undefined) return false;
    this.db.prepare('UPDATE certificates SET revoked_at = COALESCE(revoked_at, ?), revocation_reason = COALESCE(revocation_reason, ?) WHERE serial = ?').run(at, reason, serial);
    return true;
  }

  listCertificates(): Omit<CertificateRow, 'der'>[] {
    return this.db.prepare('SELECT serial, email, name, issued_at, not_after, revoked_at, revocation_reason FROM certificates ORDER BY issued_at').all() as Omit<CertificateRow, 'der'>[];
  }

  close(): void {
    this.db.close();
  }
}
