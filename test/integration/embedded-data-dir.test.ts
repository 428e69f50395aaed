// `npm start` without DATABASE_URL, as a new user runs it: the embedded PostgreSQL under
// PARLEY_DATA_DIR. Two processes must not share it, and one killed with SIGKILL (which leaves
// its PostgreSQL running) must not keep the next start from taking the data over.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../src/store/embedded-postgres.ts';
import { createRpcClient } from '../support/clients.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Started {
  child: ChildProcess;
  /** Resolves with the URL it serves on, or rejects with its output when it exits first. */
  serving: Promise<string>;
  exited: Promise<number | null>;
  output: () => string;
}

const children: ChildProcess[] = [];
let dataDir = '';

function start(): Started {
  const child = spawn(process.execPath, ['src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PARLEY_DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'info', PARLEY_SHUTDOWN_GRACE_MS: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const serving = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      // Whole lines only, as JSON objects: the order of their keys is the logger's business.
      const line = output.split('\n').slice(0, -1).find((text) => text.includes('"Parley is serving'));
      if (line) resolve((JSON.parse(line) as { url: string }).url);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => reject(new Error(`exited with ${code} before serving:\n${output}`)));
  });
  serving.catch(() => undefined);
  return { child, serving, exited, output: () => output };
}

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  // The last instance's PostgreSQL stops with it; a SIGKILLed one's is stopped by the next start.
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('the embedded PostgreSQL data directory', () => {
  it('refuses a second process, and is taken over after the first was killed with SIGKILL', async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'parley-data-'));
    const first = start();
    const firstUrl = await first.serving;
    const client = createRpcClient('connect-node/connect', firstUrl);
    const created = await client.unary('CreateConversation', { title: 'kept across instances' });
    if (!created.ok) throw new Error(`CreateConversation failed: ${created.code} ${created.message}`);
    const id = (created.response as { conversation: { id: string } }).conversation.id;

    const second = start();
    const code = await second.exited;
    expect(code).not.toBe(0);
    expect(second.output()).toMatch(/Another Parley process \(pid \d+\) is using the embedded PostgreSQL/);
    // The first instance still has its database.
    expect((await fetch(`${firstUrl}/readyz`)).status).toBe(200);
    expect((await client.unary('GetConversation', { conversationId: id })).ok).toBe(true);
    client.close();

    first.child.kill('SIGKILL');
    await first.exited;
    const third = start();
    const thirdUrl = await third.serving;
    const again = createRpcClient('connect-node/connect', thirdUrl);
    try {
      const got = await again.unary('GetConversation', { conversationId: id });
      expect(got.ok ? 'found' : got.code).toBe('found');
    } finally {
      again.close();
      third.child.kill('SIGTERM');
      expect(await third.exited).toBe(0);
    }
  }, 120_000);

  it('leaves the process exit code alone: the beforeExit hook of embedded-postgres (process.exit(0)) is removed', async () => {
    const emitter: NodeJS.EventEmitter = process;
    const events = ['beforeExit', 'exit', 'SIGINT', 'SIGTERM', 'message'];
    const before = events.map((event) => emitter.listenerCount(event));
    const dir = await mkdtemp(path.join(os.tmpdir(), 'parley-hooks-'));
    const cluster = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), persistent: false, unsafeFast: true });
    try {
      // A failed test run used to exit 0 because of that hook; SIGINT/SIGTERM are the service's.
      expect(events.map((event) => emitter.listenerCount(event))).toEqual(before);
    } finally {
      await cluster.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
