// The embedded PostgreSQL keeps other local users out: its superuser password is random, made
// with the cluster and kept in a file only this user can read; its socket directory is private;
// a cluster made with the fixed password of old gets a random one at its next start.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { passwordFile, readPassword } from '../../src/store/embedded-password.ts';
import { runningEmbeddedUrl, startEmbeddedPostgres } from '../../src/store/embedded-postgres.ts';

let root = '';

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

async function logsIn(url: string): Promise<boolean> {
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

function withPassword(url: string, password: string): string {
  const parsed = new URL(url);
  parsed.password = password;
  return parsed.toString();
}

describe('the embedded PostgreSQL', () => {
  it('gets a random password only this user can read, a private socket directory, and rotates the fixed one of old', async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'parley-secrets-'));
    const dataDir = path.join(root, 'pg');
    const first = await startEmbeddedPostgres({ dataDir, persistent: true, unsafeFast: true });
    const password = (await readPassword(dataDir)) ?? '';
    try {
      expect(password).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect((await stat(passwordFile(dataDir))).mode & 0o777).toBe(0o600);
      expect((await stat(`${dataDir}-socket`)).mode & 0o777).toBe(0o700);
      expect(decodeURIComponent(new URL(first.url).password)).toBe(password);
      expect(await logsIn(first.url)).toBe(true);
      expect(await logsIn(withPassword(first.url, 'parley-embedded'))).toBe(false);
      // A command run beside the service finds it with the same password.
      expect(await runningEmbeddedUrl(dataDir)).toBe(first.url);
      // Back to the state of a cluster made before passwords were random.
      const client = new pg.Client({ connectionString: first.url });
      await client.connect();
      await client.query(`alter role current_user password 'parley-embedded'`);
      await client.end();
    } finally {
      await first.stop();
    }
    await rm(passwordFile(dataDir));

    const second = await startEmbeddedPostgres({ dataDir, persistent: true, unsafeFast: true });
    try {
      const rotated = await readPassword(dataDir);
      expect(rotated).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(rotated).not.toBe(password);
      expect(await logsIn(second.url)).toBe(true);
      expect(await logsIn(withPassword(second.url, 'parley-embedded'))).toBe(false);
    } finally {
      await second.stop();
    }
  });
});
