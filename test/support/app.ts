import { createApp, type App, type AppOptions } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { createTestDatabase } from './database.ts';

export interface TestApp {
  app: App;
  port: number;
  baseUrl: string;
  databaseUrl: string;
  close(): Promise<void>;
}

/**
 * The real app, on an ephemeral loopback port, with its own database. `env` adds to the
 * environment the app would read, the way an operator would configure it.
 */
export async function startTestApp(
  env: Record<string, string> = {},
  options: AppOptions & { databaseUrl?: string } = {},
): Promise<TestApp> {
  const database = options.databaseUrl ? null : await createTestDatabase();
  const databaseUrl = options.databaseUrl ?? database!.url;
  const config = loadConfig({ LOG_LEVEL: 'warn', PARLEY_SHUTDOWN_GRACE_MS: '0', ...env, PORT: '0', HOST: '127.0.0.1', DATABASE_URL: databaseUrl });
  const app = await createApp(config, options);
  const port = await app.listen();
  return {
    app,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    databaseUrl,
    async close() {
      await app.close();
      await database?.drop();
    },
  };
}
