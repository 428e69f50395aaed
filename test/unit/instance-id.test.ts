import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';

describe('the instance id', () => {
  it('is PARLEY_INSTANCE_ID when set, else host name, pid and a random part', () => {
    expect(loadConfig({ PARLEY_INSTANCE_ID: 'worker-7.eu:1' }).instanceId).toBe('worker-7.eu:1');
    const made = loadConfig({}).instanceId;
    expect(made).toMatch(new RegExp(`^[A-Za-z0-9.-]+-${process.pid}-[0-9a-f]{6}$`));
    expect(loadConfig({}).instanceId).not.toBe(made);
  });

  it('refuses one that could not go into a log line and a column as it is', () => {
    for (const bad of ['has space', 'x'.repeat(65), 'quote"d', 'ünicode']) {
      expect(() => loadConfig({ PARLEY_INSTANCE_ID: bad })).toThrow(ConfigError);
    }
  });
});
