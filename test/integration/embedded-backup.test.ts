// The backup that docs/operations.md describes for the embedded PostgreSQL, tried: stop the
// service, copy PARLEY_DATA_DIR whole (the cluster and its password file), and a start on the
// copy has every conversation, its messages and its keys.
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { createRpcClient } from '../support/clients.ts';
import { conversationApi } from '../support/conversation.ts';

let root = '';

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

async function withInstance<T>(dataDir: string, work: (baseUrl: string, app: Awaited<ReturnType<typeof createApp>>) => Promise<T>): Promise<T> {
  const app = await createApp(loadConfig({ PARLEY_DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent', PARLEY_SHUTDOWN_GRACE_MS: '0', PARLEY_OFFLINE_TOKENS_PER_SECOND: '0' }));
  const port = await app.listen();
  try {
    return await work(`http://127.0.0.1:${port}`, app);
  } finally {
    await app.close();
  }
}

describe('a cold backup of the embedded PostgreSQL', () => {
  it('is a copy of PARLEY_DATA_DIR taken while the service is stopped', async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'parley-backup-'));
    // The server runs as the postgres user when this runs as root: it must reach the data.
    await chmod(root, 0o755);
    const original = path.join(root, 'data');
    const { id, messages } = await withInstance(original, async (baseUrl) => {
      const client = createRpcClient('connect-node/connect', baseUrl);
      try {
        const api = conversationApi(client);
        const created = await api.create({}, 'worth keeping');
        await api.send(created, 'remember this');
        return { id: created, messages: await api.settled(created) };
      } finally {
        client.close();
      }
    });
    const copy = path.join(root, 'restored');
    // cp -a keeps owners and modes: the cluster's files belong to the user the server runs as.
    await promisify(execFile)('cp', ['-a', original, copy]);
    await withInstance(copy, async (baseUrl) => {
      const client = createRpcClient('connect-node/connect', baseUrl);
      try {
        expect(await conversationApi(client).messages(id)).toEqual(messages);
      } finally {
        client.close();
      }
    });
  }, 120_000);
});
