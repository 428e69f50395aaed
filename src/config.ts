// Configuration comes from the environment only, and is checked once, at start: every problem
// is reported at once, each with what to do about it.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface Config {
  /** TCP port; 0 picks a free one (tests). */
  port: number;
  /** Address to bind. */
  host: string;
  /** null: start the embedded PostgreSQL under `dataDir`. */
  databaseUrl: string | null;
  /** Where embedded state lives (the embedded PostgreSQL's files). */
  dataDir: string;
  /** null: start the offline model (the built-in Anthropic wire emulator). */
  anthropicApiKey: string | null;
  /** Passed to the SDK as its baseURL; null keeps the SDK's default. */
  anthropicBaseUrl: string | null;
  /** Model used when a conversation does not name one. */
  defaultModel: string;
  /** max_tokens used when a conversation does not set one. */
  defaultMaxTokens: number;
  /** Origins allowed to call from a browser; empty: none. `*` allows any. */
  corsOrigins: string[];
  logLevel: LogLevel;
  /** Database connections per instance. */
  databasePoolSize: number;
}

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const text = (name: string): string | null => {
    const value = env[name]?.trim();
    return value ? value : null;
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = text(name);
    if (raw === null) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name}="${raw}" must be a whole number from ${min} to ${max}; unset it to use ${fallback}.`);
      return fallback;
    }
    return value;
  };
  const url = (name: string, protocols: string[], example: string): string | null => {
    const raw = text(name);
    if (raw === null) return null;
    try {
      const parsed = new URL(raw);
      if (!protocols.includes(parsed.protocol)) throw new Error('protocol');
      return raw;
    } catch {
      problems.push(`${name} must be a URL like ${example}; unset it to use the built-in default.`);
      return null;
    }
  };

  const logLevel = (text('LOG_LEVEL') ?? 'info').toLowerCase();
  if (!LOG_LEVELS.includes(logLevel as LogLevel)) {
    problems.push(`LOG_LEVEL="${logLevel}" must be one of ${LOG_LEVELS.join(', ')}.`);
  }
  const apiKey = text('ANTHROPIC_API_KEY');
  const config: Config = {
    port: integer('PORT', 8080, 0, 65_535),
    host: text('HOST') ?? '127.0.0.1',
    databaseUrl: url('DATABASE_URL', ['postgres:', 'postgresql:'], 'postgres://user:password@host:5432/parley'),
    dataDir: text('PARLEY_DATA_DIR') ?? '.parley',
    anthropicApiKey: apiKey,
    anthropicBaseUrl: url('ANTHROPIC_BASE_URL', ['http:', 'https:'], 'https://api.anthropic.com'),
    defaultModel: text('PARLEY_DEFAULT_MODEL') ?? 'claude-sonnet-4-5',
    defaultMaxTokens: integer('PARLEY_DEFAULT_MAX_TOKENS', 4096, 1, 128_000),
    corsOrigins: (text('CORS_ORIGINS') ?? '').split(',').map((o) => o.trim()).filter(Boolean),
    logLevel: logLevel as LogLevel,
    databasePoolSize: integer('DATABASE_POOL_SIZE', 10, 1, 1000),
  };
  for (const origin of config.corsOrigins) {
    if (origin !== '*' && !/^https?:\/\/[^/]+$/.test(origin)) {
      problems.push(`CORS_ORIGINS entry "${origin}" must be an origin like https://app.example.com (no path), or *.`);
    }
  }
  if (apiKey === null && config.anthropicBaseUrl !== null) {
    problems.push('ANTHROPIC_BASE_URL is set but ANTHROPIC_API_KEY is not: set the key too, or unset both to use the offline model.');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
