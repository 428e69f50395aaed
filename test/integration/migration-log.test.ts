// Migrations report through the service's logger: JSON lines on stderr, without colour codes,
// never MikroORM's own coloured `[migrator]` lines on stdout (they ended up in log files as
// escape sequences).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { migrate } from '../../src/store/orm.ts';
import { withDatabase } from '../support/global-setup.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The escape character that starts every colour code. */
const ESC = '\u001b';
const dropped: string[] = [];

/** An empty database, not the migrated template: every migration runs. */
async function emptyDatabase(): Promise<string> {
  const name = `parley_migration_log_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: inject('postgresAdminUrl') });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  dropped.push(name);
  return withDatabase(inject('postgresAdminUrl'), name);
}

afterEach(async () => {
  const admin = new pg.Client({ connectionString: inject('postgresAdminUrl') });
  await admin.connect();
  try {
    for (const name of dropped.splice(0)) await admin.query(`drop database if exists ${name} with (force)`);
  } finally {
    await admin.end();
  }
});

describe('migration output', () => {
  it('goes through the logger: each migration applied at info, processing at debug, no colour codes, nothing on stdout', async () => {
    const url = await emptyDatabase();
    const lines: string[] = [];
    const stdout = vi.spyOn(process.stdout, 'write');
    // What MikroORM reads to decide on colours; the lines must stay plain regardless.
    vi.stubEnv('FORCE_COLOR', '1');
    try {
      await migrate(url, createLogger('debug', (line) => void lines.push(line)));
    } finally {
      vi.unstubAllEnvs();
      stdout.mockRestore();
    }
    expect(stdout.mock.calls.filter(([chunk]) => String(chunk).includes('migrat'))).toEqual([]);
    expect(lines.filter((line) => line.includes(ESC))).toEqual([]);
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const applied = entries.filter((entry) => entry.namespace === 'migrator' && String(entry.msg).startsWith('Applied'));
    expect(applied.length).toBeGreaterThan(5);
    expect(applied[0]).toMatchObject({ level: 'info', component: 'orm', msg: "Applied 'Migration20261124105545_initial'" });
    expect(entries.find((entry) => entry.msg === "Processing 'Migration20261124105545_initial'")).toMatchObject({ level: 'debug', namespace: 'migrator' });
  });

  it('from npm run migrate: JSON lines on stderr, the result alone on stdout', async () => {
    const url = await emptyDatabase();
    const { stdout, stderr, code } = await run(['src/store/migrate-cli.ts'], { DATABASE_URL: url, FORCE_COLOR: '1', LOG_LEVEL: 'info' });
    expect(code).toBe(0);
    expect(stdout).not.toContain(ESC);
    expect(stdout.trim()).toMatch(/^Database is at migration Migration\d+_\w+$/);
    expect(stderr).not.toContain(ESC);
    const entries = stderr.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries.length).toBeGreaterThan(5);
    expect(entries.every((entry) => entry.level === 'info' && String(entry.msg).startsWith('Applied '))).toBe(true);
  });
});

function run(args: string[], env: Record<string, string>): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, stderr, code }));
  });
}
