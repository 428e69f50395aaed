import { describe, expect, it } from 'vitest';
import { inNewLogContext, requestIdFrom, withLogContext, withTraceId } from '../../src/log-context.ts';
import { prettyLine } from '../../src/log-pretty.ts';
import { createLogger } from '../../src/logger.ts';

function captured(level: Parameters<typeof createLogger>[0] = 'debug', instanceId?: string) {
  const lines: string[] = [];
  const logger = createLogger(level, (line) => void lines.push(line), instanceId === undefined ? {} : { instanceId });
  return { logger, lines, entries: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

describe('the logger', () => {
  it('writes one JSON object per line, with the level by name, the time, the message and the fields', () => {
    const { logger, lines, entries } = captured('debug', 'host-1-abcdef');
    logger.info('started', { port: 8080 });
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith('}\n')).toBe(true);
    expect(entries()[0]).toEqual({ level: 'info', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), instanceId: 'host-1-abcdef', port: 8080, msg: 'started' });
  });

  it('keeps LOG_LEVEL: lines below it are dropped, silent drops all', () => {
    const { logger, entries } = captured('warn');
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    expect(entries().map((entry) => entry.level)).toEqual(['warn', 'error']);
    const silent = captured('silent');
    silent.logger.error('e');
    expect(silent.lines).toEqual([]);
  });

  it('writes errors among the fields with their name, message and stack', () => {
    const { logger, entries } = captured();
    logger.error('failed', { error: new TypeError('bad input', { cause: new Error('deeper') }), also: { inner: [new RangeError('out')] } });
    const [entry] = entries();
    expect(entry!.error).toMatchObject({ name: 'TypeError', message: 'bad input', stack: expect.stringContaining('TypeError: bad input'), cause: { name: 'Error', message: 'deeper' } });
    expect(entry!.also).toEqual({ inner: [{ name: 'RangeError', message: 'out', stack: expect.any(String) }] });
  });

  it('takes a message as it is, never as a format string', () => {
    const { logger, entries } = captured();
    logger.info('100%s done %d', { x: 1 });
    logger.info('%o');
    expect(entries().map((entry) => entry.msg)).toEqual(['100%s done %d', '%o']);
  });

  it('adds the fields of the log context to every line, through async work too', async () => {
    const { logger, entries } = captured();
    await withLogContext({ requestId: 'req-1' }, async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      await withLogContext({ conversationId: 'c-1', messageId: 'm-1' }, async () => {
        await Promise.resolve();
        withTraceId('trace-1', () => logger.info('inner'));
        logger.info('middle', { messageId: 'given' });
      });
      inNewLogContext({ conversationId: 'c-2' }, () => logger.info('fresh'));
    });
    logger.info('outside');
    expect(entries().map(({ msg, requestId, conversationId, messageId, traceId }) => ({ msg, requestId, conversationId, messageId, traceId }))).toEqual([
      { msg: 'inner', requestId: 'req-1', conversationId: 'c-1', messageId: 'm-1', traceId: 'trace-1' },
      // A field given at the call wins over the context's.
      { msg: 'middle', requestId: 'req-1', conversationId: 'c-1', messageId: 'given', traceId: undefined },
      { msg: 'fresh', requestId: undefined, conversationId: 'c-2', messageId: undefined, traceId: undefined },
      { msg: 'outside', requestId: undefined, conversationId: undefined, messageId: undefined, traceId: undefined },
    ]);
  });

  it('shows a line on a terminal as one readable line, with the stack of an error after it', () => {
    const { logger, lines } = captured('debug', 'host-1-abcdef');
    logger.warn('request failed', { method: 'parley.v1.ConversationService/SendMessage', durationMs: 12, note: 'two words', error: new Error('boom') });
    const shown = prettyLine(lines[0]!);
    expect(shown).toMatch(/^\d\d:\d\d:\d\d\.\d{3} WARN {2}request failed method=parley\.v1\.ConversationService\/SendMessage durationMs=12 note="two words" error="Error: boom"\n {4}Error: boom\n {8}at /);
    expect(shown).not.toContain('host-1-abcdef');
  });
});

describe('request ids', () => {
  it('keeps a printable ASCII id of at most 128 characters, and replaces any other with a new UUID', () => {
    expect(requestIdFrom('abc-123')).toBe('abc-123');
    expect(requestIdFrom('a b:c/d')).toBe('a b:c/d');
    expect(requestIdFrom('x'.repeat(128))).toBe('x'.repeat(128));
    expect(requestIdFrom(['first', 'second'])).toBe('first');
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    for (const bad of [undefined, '', 'x'.repeat(129), 'line\nbreak', 'tab\there', 'ünicode', '\u0000']) expect(requestIdFrom(bad)).toMatch(uuid);
    expect(requestIdFrom(undefined)).not.toBe(requestIdFrom(undefined));
  });
});
