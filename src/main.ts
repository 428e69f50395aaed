import { createApp, type App } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';

// Signal handlers go in first: a SIGTERM during start-up must also end in a clean shutdown.
let app: App | null = null;
let stopping: string | null = null;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = signal;
  if (!app) return; // start-up finishes, then shuts down (below)
  app.logger.info('shutting down', { signal });
  app.close().then(
    () => process.exit(0),
    (error: unknown) => {
      app?.logger.error('shutdown failed', { error });
      process.exit(1);
    },
  );
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

try {
  const config = loadConfig();
  const created = await createApp(config);
  await created.listen();
  app = created;
  if (stopping) {
    const signal = stopping;
    stopping = null;
    stop(signal);
  }
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(78); // EX_CONFIG
  }
  // One line, the last one: whatever createApp or listen had started has been stopped by now.
  const reason = error instanceof Error ? error.message : String(error);
  console.error(`Parley could not start: ${reason.replace(/\s*\n\s*/g, ' ')}`);
  process.exit(1);
}
