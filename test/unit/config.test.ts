import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';

describe('loadConfig', () => {
  it('runs with no configuration at all: embedded database, offline model', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ port: 8080, databaseUrl: null, anthropicApiKey: null, logLevel: 'info' });
  });

  it('reads every variable it documents', () => {
    const config = loadConfig({
      PORT: '9000',
      DATABASE_URL: 'postgres://u:p@db:5432/parley',
      ANTHROPIC_API_KEY: 'sk-test',
      ANTHROPIC_BASE_URL: 'https://proxy.example.com',
      LOG_LEVEL: 'DEBUG',
      CORS_ORIGINS: 'https://a.example.com, http://localhost:3000',
    });
    expect(config).toMatchObject({
      port: 9000,
      databaseUrl: 'postgres://u:p@db:5432/parley',
      anthropicApiKey: 'sk-test',
      anthropicBaseUrl: 'https://proxy.example.com',
      logLevel: 'debug',
      corsOrigins: ['https://a.example.com', 'http://localhost:3000'],
    });
  });

  it('reports every problem at once, each with how to fix it', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud', CORS_ORIGINS: 'https://a.example.com/path' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(4);
    const expected = [
      'PORT must be a whole number from 0 to 65535',
      'DATABASE_URL must be a URL like postgres://',
      'LOG_LEVEL must be one of',
      'CORS_ORIGINS entry 1 must be an origin',
    ];
    for (const text of expected) expect(problems.some((p) => p.includes(text)), text).toBe(true);
  });

  it('has defaults for the request and resource limits', () => {
    expect(loadConfig({})).toMatchObject({
      maxMessageChars: 100_000,
      maxQueuedPerConversation: 100,
      maxBlocksPerMessage: 1_000,
      maxSubscribersPerConversation: 1_000,
      requestTimeoutMs: 30_000,
    });
  });

  it('reads the request and resource limits', () => {
    const config = loadConfig({
      PARLEY_MAX_MESSAGE_CHARS: '5000',
      PARLEY_MAX_QUEUED_PER_CONVERSATION: '7',
      PARLEY_MAX_BLOCKS_PER_MESSAGE: '12',
      PARLEY_MAX_SUBSCRIBERS_PER_CONVERSATION: '3',
      PARLEY_REQUEST_TIMEOUT_MS: '250',
    });
    expect(config).toMatchObject({
      maxMessageChars: 5000,
      maxQueuedPerConversation: 7,
      maxBlocksPerMessage: 12,
      maxSubscribersPerConversation: 3,
      requestTimeoutMs: 250,
    });
  });

  it('reads the offline model\'s context window, 200,000 tokens by default', () => {
    expect(loadConfig({}).offlineContextTokens).toBe(200_000);
    expect(loadConfig({ PARLEY_OFFLINE_CONTEXT_TOKENS: '8000' }).offlineContextTokens).toBe(8_000);
    expect(() => loadConfig({ PARLEY_OFFLINE_CONTEXT_TOKENS: '0' })).toThrow(
      'PARLEY_OFFLINE_CONTEXT_TOKENS must be a whole number from 1 to 10000000; unset it to use 200000.',
    );
  });

  it('refuses limits out of range, naming each variable, its range and its default', () => {
    let error: unknown;
    try {
      loadConfig({
        PARLEY_MAX_MESSAGE_CHARS: '0',
        PARLEY_MAX_BLOCKS_PER_MESSAGE: '100001',
        PARLEY_MAX_SUBSCRIBERS_PER_CONVERSATION: 'many',
        PARLEY_REQUEST_TIMEOUT_MS: '99',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'PARLEY_MAX_MESSAGE_CHARS must be a whole number from 1 to 1000000; unset it to use 100000.',
      'PARLEY_MAX_BLOCKS_PER_MESSAGE must be a whole number from 1 to 100000; unset it to use 1000.',
      'PARLEY_MAX_SUBSCRIBERS_PER_CONVERSATION must be a whole number from 1 to 1000000; unset it to use 1000.',
      'PARLEY_REQUEST_TIMEOUT_MS must be a whole number from 100 to 3600000; unset it to use 30000.',
    ]);
  });

  it('refuses a base URL without a key rather than silently using the offline model', () => {
    expect(() => loadConfig({ ANTHROPIC_BASE_URL: 'https://proxy.example.com' })).toThrow(/ANTHROPIC_API_KEY/);
  });
});
