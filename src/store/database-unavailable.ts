/**
 * Connection failures and shutdowns of the database, as the driver, the pool and the ORM report
 * them: errors that say nothing about the request, and that go away when the database is back.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { name, code, message } = error as { name?: unknown; code?: unknown; message?: unknown };
  if (name === 'ConnectionException') return true;
  // Class 08 (connection exception), 57P01-03 (admin/crash shutdown, cannot connect now), a
  // database that refuses writes for now: 25006 (read only: a standby, or
  // default_transaction_read_only) and 53100 (disk full); and one too slow for its bounds now:
  // 57014 (statement_timeout, or a cancel) and 25P03 (idle_in_transaction_session_timeout); and
  // 40P01, a deadlock PostgreSQL broke by failing this transaction: trying again succeeds.
  if (
    typeof code === 'string' &&
    (/^08/.test(code) || /^57P0[1-3]$/.test(code) || ['25006', '53100', '57014', '25P03', '40P01', 'ECONNREFUSED', 'ECONNRESET'].includes(code))
  ) {
    return true;
  }
  return (
    typeof message === 'string' &&
    /Connection terminated|ECONNREFUSED|ECONNRESET|timeout exceeded when trying to connect|Client was closed and is not queryable|Client has encountered a connection error and is not queryable|closed this connection while it was in use/.test(message)
  );
}
