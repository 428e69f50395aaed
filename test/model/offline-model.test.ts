import { describe, expect, it } from 'vitest';

import {
  chooseTool,
  DEFAULT_OFFLINE_TOKENS_PER_SECOND,
  deriveToolInput,
  extractExpression,
  extractTimeZone,
  mentionsTool,
  OFFLINE_LABEL,
  offlineReply,
} from '../../src/emulator/offline-model.ts';
import type { MessagesRequest, ReplyBlock, ReplyTurn, WireMessage, WireTool } from '../../src/emulator/types.ts';

const tool = (name: string, properties: Record<string, unknown> = {}, required: string[] = []): WireTool => ({
  name,
  description: `The ${name} tool`,
  input_schema: { type: 'object', properties, required },
});

const TIME = tool('current_time', { time_zone: { type: 'string' } });
const CALC = tool('calculate', { expression: { type: 'string' } }, ['expression']);

const request = (messages: WireMessage[], extra: Partial<MessagesRequest> = {}): MessagesRequest => ({
  model: 'm',
  max_tokens: 1000,
  messages,
  ...extra,
});

const ask = (text: string, extra: Partial<MessagesRequest> = {}): MessagesRequest =>
  request([{ role: 'user', content: text }], extra);

const textOf = (turn: ReplyTurn): string =>
  turn.blocks
    .filter((block): block is Extract<ReplyBlock, { type: 'text' }> => block.type === 'text')
    .map((block) => block.text)
    .join('');

const toolUses = (turn: ReplyTurn): Array<Extract<ReplyBlock, { type: 'tool_use' }>> =>
  turn.blocks.filter((block): block is Extract<ReplyBlock, { type: 'tool_use' }> => block.type === 'tool_use');

describe('offline model: plain replies', () => {
  it('labels itself, echoes the newest user message and counts the turns', () => {
    const reply = offlineReply(
      request([
        { role: 'user', content: 'First question' },
        { role: 'assistant', content: 'First answer' },
        { role: 'user', content: [{ type: 'text', text: 'Second   question,\nplease' }] },
      ]),
    );
    const text = textOf(reply);
    expect(text.startsWith(OFFLINE_LABEL)).toBe(true);
    expect(text).toContain('“Second question, please”');
    expect(text).toContain('user turn 2');
    expect(text).toContain('3 messages');
    expect(text).toContain('ANTHROPIC_API_KEY');
    expect(toolUses(reply)).toEqual([]);
  });

  it('summarises a long message instead of echoing all of it', () => {
    const long = Array.from({ length: 100 }, (_, i) => `word${i}`).join(' ');
    const text = textOf(offlineReply(ask(long)));
    expect(text).toContain('(100 words)');
    expect(text).not.toContain('word99');
  });

  it('is deterministic', () => {
    const input = ask('Same words, same reply', { tools: [TIME] });
    expect(offlineReply(input)).toEqual(offlineReply(input));
  });

  it('streams at a human pace unless told otherwise', () => {
    expect(offlineReply(ask('hi')).tokensPerSecond).toBe(DEFAULT_OFFLINE_TOKENS_PER_SECOND);
    expect(offlineReply(ask('hi'), { tokensPerSecond: Infinity }).tokensPerSecond).toBe(Infinity);
  });

  it('thinks first, unsigned (the emulator signs), when thinking is on', () => {
    const reply = offlineReply(ask('hi', { thinking: { type: 'enabled', budget_tokens: 2000 } }));
    expect(reply.blocks[0]).toMatchObject({ type: 'thinking' });
    expect(reply.blocks[0]).not.toHaveProperty('signature');
  });
});

describe('offline model: tools', () => {
  it('calls a tool the user names', () => {
    const reply = offlineReply(ask('Please run calculate on 6*7', { tools: [TIME, CALC] }));
    expect(toolUses(reply)).toEqual([{ type: 'tool_use', name: 'calculate', input: { expression: '6*7' } }]);
    expect(textOf(reply)).toContain(OFFLINE_LABEL);
  });

  it('recognises a name written as words', () => {
    expect(mentionsTool('what is the current time?', 'current_time')).toBe(true);
    expect(mentionsTool('use getWeather please', 'getWeather')).toBe(true);
    expect(mentionsTool('get weather please', 'getWeather')).toBe(true);
    expect(mentionsTool('recalculated', 'calculate')).toBe(false);
  });

  it('asks for the time with a time tool', () => {
    const reply = offlineReply(ask('What time is it?', { tools: [CALC, TIME] }));
    expect(toolUses(reply)).toEqual([{ type: 'tool_use', name: 'current_time', input: { time_zone: 'UTC' } }]);
  });

  it('calculates with a calculator-like tool', () => {
    const evaluate = tool('evaluate', { expr: { type: 'string' } }, ['expr']);
    expect(toolUses(offlineReply(ask("What's 2+2?", { tools: [evaluate] })))[0]?.input).toEqual({ expr: '2+2' });
    expect(toolUses(offlineReply(ask('calculate 12 * (3 + 4) for me', { tools: [CALC] })))[0]?.input).toEqual({
      expression: '12 * (3 + 4)',
    });
  });

  it('does not call a tool nobody asked for', () => {
    expect(toolUses(offlineReply(ask('Tell me a story', { tools: [TIME, CALC] })))).toEqual([]);
  });

  it('ignores server tools, which run on the API side', () => {
    const search: WireTool = { type: 'web_search_20250305', name: 'web_search' };
    expect(chooseTool(ask('web_search for cats', { tools: [search] }), 'web_search for cats')).toBeUndefined();
  });

  it('follows tool_choice', () => {
    expect(toolUses(offlineReply(ask('What time is it?', { tools: [TIME], tool_choice: { type: 'none' } })))).toEqual(
      [],
    );
    const forced = offlineReply(ask('Tell me a story', { tools: [TIME, CALC], tool_choice: { type: 'tool', name: 'calculate' } }));
    expect(toolUses(forced)[0]?.name).toBe('calculate');
    const any = offlineReply(ask('Tell me a story', { tools: [TIME, CALC], tool_choice: { type: 'any' } }));
    expect(toolUses(any)[0]?.name).toBe('current_time');
  });

  it('fills an unknown schema: required strings from the text, other types plausibly', () => {
    const unknown = tool(
      'file_ticket',
      {
        title: { type: 'string' },
        priority: { type: 'integer' },
        team: { enum: ['core', 'web'] },
        urgent: { type: 'boolean' },
        notes: { type: 'string' },
      },
      ['title', 'priority', 'team', 'urgent', 'reporter'],
    );
    expect(deriveToolInput(unknown, 'file_ticket: printer on fire, level 3')).toEqual({
      title: 'file_ticket: printer on fire, level 3',
      priority: 3,
      team: 'core',
      urgent: false,
      reporter: 'file_ticket: printer on fire, level 3',
    });
  });

  it('extracts time zones and expressions', () => {
    expect(extractTimeZone('time in America/New_York now')).toBe('America/New_York');
    expect(extractTimeZone('what is the time in GMT')).toBe('UTC');
    expect(extractTimeZone('what time is it')).toBeUndefined();
    expect(extractExpression('compute 3 × 4 please')).toBe('3 * 4');
    expect(extractExpression('no maths in 2024 here')).toBeUndefined();
  });
});

describe('offline model: tool results end the loop', () => {
  const call: WireMessage = {
    role: 'assistant',
    content: [
      { type: 'text', text: 'Calling.' },
      { type: 'tool_use', id: 'toolu_1', name: 'current_time', input: {} },
    ],
  };

  it('states the result in text', () => {
    const reply = offlineReply(
      request(
        [
          { role: 'user', content: 'What time is it?' },
          call,
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '09:30 UTC' }] },
        ],
        { tools: [TIME] },
      ),
    );
    expect(toolUses(reply)).toEqual([]);
    expect(textOf(reply)).toBe(`${OFFLINE_LABEL} The \`current_time\` tool returned: 09:30 UTC`);
  });

  it('reports a failed tool as an error, reading block content', () => {
    const reply = offlineReply(
      request([
        { role: 'user', content: 'What time is it?' },
        call,
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_1', is_error: true, content: [{ type: 'text', text: 'clock broke' }] },
          ],
        },
      ]),
    );
    expect(textOf(reply)).toContain('reported an error: clock broke');
  });

  it('never loops: driving it like an agent ends after one call', () => {
    const messages: WireMessage[] = [{ role: 'user', content: 'What time is it? Use current_time.' }];
    let calls = 0;
    for (let round = 0; round < 10; round += 1) {
      const reply = offlineReply(request([...messages], { tools: [TIME], tool_choice: { type: 'any' } }));
      const uses = toolUses(reply);
      if (uses.length === 0) break;
      calls += 1;
      const content = uses.map((use, i) => ({ type: 'tool_use', id: `toolu_${round}_${i}`, name: use.name, input: use.input }));
      messages.push(
        { role: 'assistant', content },
        { role: 'user', content: content.map((use) => ({ type: 'tool_result', tool_use_id: use.id, content: 'now' })) },
      );
    }
    expect(calls).toBe(1);
  });
});
