// The embedded PostgreSQL's superuser password: random, made when the cluster is made, kept in
// a file only this user can read (`<dataDir>.password`, mode 0600), so that no other local
// process can log in as superuser. A cluster made when the password was a fixed string gets a
// random one at its next start.
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import pg from 'pg';

/** The password clusters were made with before they got random ones. */
const LEGACY_PASSWORD = 'parley-embedded';

export function passwordFile(dataDir: string): string {
  return `${dataDir}.password`;
}

/** The cluster's password as its file holds it, or null when it has none (yet). */
export async function readPassword(dataDir: string): Promise<string | null> {
  const text = await readFile(passwordFile(dataDir), 'utf8').catch(() => null);
  return text?.trim() || null;
}

/** A new password, written (only this user may read it) before the cluster that uses it is made. */
export async function newPassword(dataDir: string): Promise<string> {
  const password = randomBytes(24).toString('base64url');
  await writeFile(passwordFile(dataDir), `${password}\n`, { mode: 0o600 });
  return password;
}

/**
 * The password of a running cluster that has no password file: the fixed one of old, or one a
 * rotation interrupted before its file was renamed. Rotates to a random one (written to a file
 * first, so that no crash loses it) and returns that.
 */
export async function rotateLegacyPassword(dataDir: string, url: (password: string) => string): Promise<string> {
  const pending = `${passwordFile(dataDir)}.next`;
  const interrupted = (await readFile(pending, 'utf8').catch(() => null))?.trim() || null;
  if (interrupted !== null && (await canLogIn(url(interrupted)))) {
    await rename(pending, passwordFile(dataDir));
    return interrupted;
  }
  // Logged in with the old password before anything is written: a failure here (the server not
  // answering yet) must not overwrite a pending file that may hold the real password.
  const client = new pg.Client({ connectionString: url(LEGACY_PASSWORD) });
  await client.connect();
  const password = randomBytes(24).toString('base64url');
  try {
    await writeFile(pending, `${password}\n`, { mode: 0o600 });
    // base64url only: nothing to escape. ALTER ROLE takes no bound parameters.
    await client.query(`alter role current_user password '${password}'`);
  } finally {
    await client.end();
  }
  await rename(pending, passwordFile(dataDir));
  return password;
}

/** Removes the password file of a cluster whose data is gone (throwaway clusters). */
export async function forgetPassword(dataDir: string): Promise<void> {
  await rm(passwordFile(dataDir), { force: true });
}

async function canLogIn(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}
