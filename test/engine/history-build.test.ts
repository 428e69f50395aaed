import { DEFAULT_CONTEXT_POLICY } from '../../src/domain/context-policy.ts';
import { DEFAULT_THINKING } from '../../src/domain/model-thinking.ts';
import type { MessageParam, Tool } from '@anthropic-ai/sdk/resources/messages';
import { describe, expect, it } from 'vitest';
import {
  buildHistory,
  countCacheMarkers,
  HistoryInputError,
  MISSING_TOOL_RESULT_TEXT,
  validateRequest,
  type HistoryInput,
} from '../../src/engine/history/index.ts';
import type { BlockContent, ConversationSettings, MessageRecord, MessageStatus } from '../../src/domain/records.ts';

const T0 = new Date('2026-01-01T00:00:00Z');

function record(
  id: string,
  role: 'user' | 'assistant',
  blocks: BlockContent[],
  status: MessageStatus,
  replyToId: string | null,
): MessageRecord {
  return {
    id,
    conversationId: 'c1',
    role,
    status,
    blocks,
    error: null,
    replyToId,
    stopReason: null,
    model: null,
    usage: null,
    queuePosition: 0,
    requestId: null,
    createdAt: T0,
    updatedAt: T0,
    startedAt: null,
    endedAt: null,
  };
}

const text = (t: string): BlockContent => ({ type: 'text', text: t });
const use = (id: string, name = 'lookup'): BlockContent => ({ type: 'tool_use', id, name, input: { q: id } });
const result = (toolUseId: string, content = `result ${toolUseId}`, isError = false): BlockContent => ({
  type: 'tool_result',
  toolUseId,
  content,
  isError,
});
const thought = (thinking: string, signature: string): BlockContent => ({ type: 'thinking', thinking, signature });

function user(id: string, body: string | BlockContent[], status: MessageStatus = 'completed'): MessageRecord {
  return record(id, 'user', typeof body === 'string' ? [text(body)] : body, status, null);
}

function reply(id: string, to: string, body: string | BlockContent[], status: MessageStatus = 'completed'): MessageRecord {
  return record(id, 'assistant', typeof body === 'string' ? [text(body)] : body, status, to);
}

function settings(overrides: Partial<ConversationSettings> = {}): ConversationSettings {
  return {
    model: 'claude-test',
    systemPrompt: '',
    maxTokens: 4096,

    thinkingBudgetTokens: 0,
    enabledTools: [],
    clientTools: [],
    context: DEFAULT_CONTEXT_POLICY,
    thinking: DEFAULT_THINKING,
    ...overrides,
  };
}

function tool(name: string): Tool {
  return { name, description: `the ${name} tool`, input_schema: { type: 'object', properties: {} } };
}

function build(messages: MessageRecord[], currentMessageId: string, extra: Partial<HistoryInput> = {}) {
  const request = buildHistory({ settings: settings(), messages, currentMessageId, tools: [], ...extra });
  expect(validateRequest(request)).toEqual([]);
  return request;
}

/** Turns reduced to role + a compact rendering of each block, markers left out. */
function shape(messages: MessageParam[]): Array<[string, string[]]> {
  return messages.map((m) => [
    m.role,
    (typeof m.content === 'string' ? [{ type: 'text' as const, text: m.content }] : m.content).map((b) => {
      switch (b.type) {
        case 'text':
          return b.text;
        case 'tool_use':
          return `use:${b.id}`;
        case 'tool_result':
          return `${b.is_error === true ? 'error' : 'result'}:${b.tool_use_id}`;
        case 'thinking':
          return `thinking:${b.thinking}`;
        case 'redacted_thinking':
          return 'redacted';
        default:
          return b.type;
      }
    }),
  ]);
}

describe('buildHistory: which messages are included', () => {
  it('holds every earlier completed exchange plus the newest user turn (5 exchanges + current = 11 turns)', () => {
    const messages: MessageRecord[] = [];
    for (let i = 1; i <= 5; i++) messages.push(user(`u${i}`, `question ${i}`), reply(`a${i}`, `u${i}`, `answer ${i}`));
    messages.push(user('u6', 'question 6', 'processing'));

    const request = build(messages, 'u6');

    expect(request.messages).toHaveLength(11);
    expect(shape(request.messages)).toEqual([
      ['user', ['question 1']],
      ['assistant', ['answer 1']],
      ['user', ['question 2']],
      ['assistant', ['answer 2']],
      ['user', ['question 3']],
      ['assistant', ['answer 3']],
      ['user', ['question 4']],
      ['assistant', ['answer 4']],
      ['user', ['question 5']],
      ['assistant', ['answer 5']],
      ['user', ['question 6']],
    ]);
  });

  it('leaves a failed exchange out entirely', () => {
    const request = build(
      [
        user('u1', 'first'),
        reply('a1', 'u1', 'first answer'),
        user('u2', 'doomed', 'failed'),
        reply('a2', 'u2', 'half an answer', 'failed'),
        user('u3', 'third', 'processing'),
      ],
      'u3',
    );
    expect(shape(request.messages)).toEqual([
      ['user', ['first']],
      ['assistant', ['first answer']],
      ['user', ['third']],
    ]);
  });

  it('leaves a cancelled exchange out, and a cancelled attempt out even when a retry completed', () => {
    const request = build(
      [
        user('u1', 'first'),
        reply('a1-try1', 'u1', 'cancelled words', 'cancelled'),
        reply('a1-try2', 'u1', 'failed words', 'failed'),
        reply('a1-try3', 'u1', 'the answer'),
        user('u2', 'stopped', 'cancelled'),
        reply('a2', 'u2', 'stopped answer', 'cancelled'),
        user('u3', 'now', 'processing'),
      ],
      'u3',
    );
    expect(shape(request.messages)).toEqual([
      ['user', ['first']],
      ['assistant', ['the answer']],
      ['user', ['now']],
    ]);
  });

  it('uses the latest completed reply when several completed', () => {
    const request = build(
      [user('u1', 'q'), reply('a1', 'u1', 'older'), reply('a1b', 'u1', 'newer'), user('u2', 'next', 'processing')],
      'u2',
    );
    expect(shape(request.messages)[1]).toEqual(['assistant', ['newer']]);
  });

  it('leaves out queued messages and everything after the current message', () => {
    const request = build(
      [
        user('u1', 'first'),
        reply('a1', 'u1', 'answer'),
        user('u2', 'current', 'processing'),
        user('u3', 'queued later', 'queued'),
        user('u4', 'completed later'),
        reply('a4', 'u4', 'later answer'),
      ],
      'u2',
    );
    expect(shape(request.messages)).toEqual([
      ['user', ['first']],
      ['assistant', ['answer']],
      ['user', ['current']],
    ]);
  });

  it('merges user turns when an earlier completed message has no completed reply', () => {
    const request = build([user('u1', 'lonely'), user('u2', 'current', 'processing')], 'u2');
    expect(shape(request.messages)).toEqual([['user', ['lonely', 'current']]]);
  });

  it('ignores processing attempts of earlier messages and failed attempts of the current one', () => {
    const request = build(
      [
        user('u1', 'q'),
        reply('a1', 'u1', 'stale stream', 'processing'),
        reply('a1b', 'u1', 'done'),
        user('u2', 'current', 'processing'),
        reply('a2-old', 'u2', 'crashed attempt', 'failed'),
        reply('a2', 'u2', [text('working'), use('t1'), result('t1')], 'processing'),
      ],
      'u2',
    );
    expect(shape(request.messages)).toEqual([
      ['user', ['q']],
      ['assistant', ['done']],
      ['user', ['current']],
      ['assistant', ['working', 'use:t1']],
      ['user', ['result:t1']],
    ]);
  });

  it('rejects a current message it cannot answer', () => {
    const messages = [user('u1', 'q'), reply('a1', 'u1', 'a'), user('u2', '   ', 'processing')];
    const attempt = (id: string) => () => buildHistory({ settings: settings(), messages, currentMessageId: id, tools: [] });
    expect(attempt('nope')).toThrow(HistoryInputError);
    expect(attempt('a1')).toThrow(HistoryInputError);
    expect(attempt('u2')).toThrow(HistoryInputError);
  });
});

describe('buildHistory: turns and blocks', () => {
  it('splits one assistant message with tool rounds into alternating turns', () => {
    const request = build(
      [
        user('u1', 'do things'),
        reply('a1', 'u1', [
          thought('plan', 'sig-1'),
          text('looking'),
          use('A'),
          use('B'),
          result('A'),
          result('B'),
          text('more'),
          use('C'),
          result('C'),
          text('done'),
        ]),
        user('u2', 'thanks', 'processing'),
      ],
      'u2',
      { settings: settings({ thinkingBudgetTokens: 2048 }) },
    );
    expect(shape(request.messages)).toEqual([
      ['user', ['do things']],
      ['assistant', ['thinking:plan', 'looking', 'use:A', 'use:B']],
      ['user', ['result:A', 'result:B']],
      ['assistant', ['more', 'use:C']],
      ['user', ['result:C']],
      ['assistant', ['done']],
      ['user', ['thanks']],
    ]);
  });

  it('puts results in tool_use order, before any text, and drops orphans', () => {
    const request = build(
      [
        user('u1', 'go'),
        reply('a1', 'u1', [result('early'), use('A'), use('B'), result('B'), result('ghost'), result('A'), text('end')]),
        user('u2', 'next', 'processing'),
      ],
      'u2',
    );
    expect(shape(request.messages)).toEqual([
      ['user', ['go']],
      ['assistant', ['use:A', 'use:B']],
      ['user', ['result:A', 'result:B']],
      ['assistant', ['end']],
      ['user', ['next']],
    ]);
  });

  it('synthesizes an error result for a past tool_use that has none, before the next text', () => {
    const request = build(
      [user('u1', 'go'), reply('a1', 'u1', [text('calling'), use('lost')]), user('u2', 'hello?', 'processing')],
      'u2',
    );
    expect(shape(request.messages)).toEqual([
      ['user', ['go']],
      ['assistant', ['calling', 'use:lost']],
      ['user', ['error:lost', 'hello?']],
    ]);
    const last = request.messages[2];
    expect(last?.content).toContainEqual(
      expect.objectContaining({ type: 'tool_result', tool_use_id: 'lost', is_error: true, content: MISSING_TOOL_RESULT_TEXT }),
    );
  });

  it('synthesizes error results when the reply in progress ends with unanswered tool_use blocks', () => {
    const request = build(
      [user('u1', 'go', 'processing'), reply('a1', 'u1', [use('A'), result('A'), use('B'), use('C'), result('C')], 'processing')],
      'u1',
    );
    expect(shape(request.messages)).toEqual([
      ['user', ['go']],
      ['assistant', ['use:A']],
      ['user', ['result:A']],
      ['assistant', ['use:B', 'use:C']],
      ['user', ['error:B', 'result:C']],
    ]);
  });

  it('ends with a user turn: partial text of the reply in progress is not sent as a prefill', () => {
    const request = build(
      [user('u1', 'go', 'processing'), reply('a1', 'u1', [use('A'), result('A'), text('partial answ')], 'processing')],
      'u1',
    );
    expect(shape(request.messages)).toEqual([
      ['user', ['go']],
      ['assistant', ['use:A']],
      ['user', ['result:A']],
    ]);
  });

  it('keeps stored error results and fills blank tool output', () => {
    const request = build(
      [user('u1', 'go', 'processing'), reply('a1', 'u1', [use('A'), use('B'), result('A', 'boom', true), result('B', '  ')], 'processing')],
      'u1',
    );
    expect(request.messages[2]?.content).toEqual([
      { type: 'tool_result', tool_use_id: 'A', content: 'boom', is_error: true },
      { type: 'tool_result', tool_use_id: 'B', content: '(no output)', cache_control: { type: 'ephemeral' } },
    ]);
  });

  it('drops a repeated tool_use id and the results that then answer nothing', () => {
    const request = build(
      [
        user('u1', 'one'),
        reply('a1', 'u1', [use('dup'), result('dup'), text('first')]),
        user('u2', 'two'),
        reply('a2', 'u2', [text('again'), use('dup'), result('dup')]),
        user('u3', 'three', 'processing'),
      ],
      'u3',
    );
    expect(shape(request.messages)).toEqual([
      ['user', ['one']],
      ['assistant', ['use:dup']],
      ['user', ['result:dup']],
      ['assistant', ['first']],
      ['user', ['two']],
      ['assistant', ['again']],
      ['user', ['three']],
    ]);
  });

  it('drops blank text blocks and turns left empty, merging their neighbours', () => {
    const request = build(
      [
        user('u1', [text(''), text('real'), text(' \n\t')]),
        reply('a1', 'u1', [text('   ')]),
        user('u2', 'second'),
        reply('a2', 'u2', 'answer'),
        user('u3', '\n'),
        reply('a3', 'u3', 'answer to blank'),
        user('u4', 'current', 'processing'),
      ],
      'u4',
    );
    expect(shape(request.messages)).toEqual([
      ['user', ['real', 'second']],
      ['assistant', ['answer', 'answer to blank']],
      ['user', ['current']],
    ]);
  });

  it('drops a leading assistant turn and results that then answer nothing', () => {
    const request = build(
      [user('u1', ''), reply('a1', 'u1', [use('A'), result('A'), text('after')]), user('u2', 'current', 'processing')],
      'u2',
    );
    expect(shape(request.messages)).toEqual([['user', ['current']]]);
  });
});

describe('buildHistory: thinking', () => {
  const signed = {
    type: 'thinking' as const,
    thinking: 'Let me think… 🤔\r\n  "quoted" \\ tab\there\u0000 and trailing space ',
    signature: 'EqQBCkgIARABGAIiQL+/9v7+ZmFrZS1zaWc=\n==',
  };
  const redacted = { type: 'redacted_thinking' as const, data: 'EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlx' };

  it('replays thinking and redacted_thinking byte-exact with their signature, and enables thinking', () => {
    const stored = [signed, redacted, text('answer')] satisfies BlockContent[];
    const request = build([user('u1', 'q'), reply('a1', 'u1', stored), user('u2', 'again', 'processing')], 'u2', {
      settings: settings({ thinkingBudgetTokens: 2048 }),
    });
    expect(request.messages[1]).toEqual({
      role: 'assistant',
      content: [
        { type: 'thinking', thinking: signed.thinking, signature: signed.signature },
        { type: 'redacted_thinking', data: redacted.data },
        { type: 'text', text: 'answer' },
      ],
    });
    expect(JSON.stringify(request.messages[1]?.content)).toContain(JSON.stringify(signed.signature));
    expect(request.thinking).toEqual({ type: 'enabled', budget_tokens: 2048 });
    expect(request).not.toHaveProperty('temperature');
  });

  it('replays thinking in the tool loop of the reply in progress', () => {
    const request = build(
      [user('u1', 'q', 'processing'), reply('a1', 'u1', [signed, use('A'), result('A')], 'processing')],
      'u1',
      { settings: settings({ thinkingBudgetTokens: 1024 }) },
    );
    expect(request.messages[1]?.content).toEqual([
      { type: 'thinking', thinking: signed.thinking, signature: signed.signature },
      { type: 'tool_use', id: 'A', name: 'lookup', input: { q: 'A' } },
    ]);
  });

  it('strips thinking when off, dropping a turn left empty and merging its neighbours', () => {
    const request = build(
      [
        user('u1', 'q'),
        reply('a1', 'u1', [signed, redacted, text('visible')]),
        user('u2', 'second'),
        reply('a2', 'u2', [thought('only thinking', 'sig')]),
        user('u3', 'third', 'processing'),
      ],
      'u3',
    );
    expect(shape(request.messages)).toEqual([
      ['user', ['q']],
      ['assistant', ['visible']],
      ['user', ['second', 'third']],
    ]);
    expect(request).not.toHaveProperty('thinking');
  });

  it('drops thinking blocks that lost their signature', () => {
    const request = build(
      [user('u1', 'q'), reply('a1', 'u1', [thought('unsigned', ''), text('a')]), user('u2', 'n', 'processing')],
      'u2',
      { settings: settings({ thinkingBudgetTokens: 2000 }) },
    );
    expect(shape(request.messages)[1]).toEqual(['assistant', ['a']]);
  });
});

describe('buildHistory: request fields and cache breakpoints', () => {
  const convo = [
    user('u1', 'one'),
    reply('a1', 'u1', [use('A'), result('A'), text('answer')]),
    user('u2', 'two', 'processing'),
    reply('a2', 'u2', [use('B'), result('B')], 'processing'),
  ];

  it('maps settings and sends no sampling parameters', () => {
    const request = build(convo, 'u2', {
      settings: settings({ model: 'claude-x', maxTokens: 999, systemPrompt: 'Be brief.' }),
    });
    expect(request.model).toBe('claude-x');
    expect(request.max_tokens).toBe(999);
    expect(request.system).toEqual([{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }]);
    expect(request).not.toHaveProperty('temperature');
    expect(request).not.toHaveProperty('tools');
    expect(request).not.toHaveProperty('thinking');
    expect(request).not.toHaveProperty('stream');
  });

  it('omits a blank system prompt', () => {
    expect(build(convo, 'u2', { settings: settings({ systemPrompt: ' \n ' }) })).not.toHaveProperty('system');
  });

  it('marks the last tool, the system prompt and the last blocks of the two newest user turns', () => {
    const request = build(convo, 'u2', {
      settings: settings({ systemPrompt: 'sys' }),
      tools: [tool('lookup'), tool('other')],
    });
    expect(countCacheMarkers(request)).toBe(4);
    expect(request.tools?.map((t) => 'cache_control' in t)).toEqual([false, true]);
    const marked = request.messages.flatMap((m, i) =>
      typeof m.content === 'string' ? [] : m.content.flatMap((b, j) => ('cache_control' in b && b.cache_control ? [`${i}.${j}`] : [])),
    );
    // Turns: user one, assistant use:A, user result:A, assistant answer, user two, assistant use:B, user result:B.
    expect(marked).toEqual(['4.0', '6.0']);
  });

  it('replaces markers arriving on tool definitions, never exceeding 4, without touching the input', () => {
    const tools: Tool[] = [
      { ...tool('a'), cache_control: { type: 'ephemeral' } },
      { ...tool('b'), cache_control: { type: 'ephemeral' } },
      { ...tool('c'), cache_control: { type: 'ephemeral', ttl: '1h' } },
    ];
    const input: HistoryInput = { settings: settings({ systemPrompt: 'sys' }), messages: convo, currentMessageId: 'u2', tools };
    const before = structuredClone(input);
    const request = buildHistory(input);
    expect(countCacheMarkers(request)).toBe(4);
    expect(request.tools?.map((t) => ('cache_control' in t ? t.cache_control : undefined))).toEqual([
      undefined,
      undefined,
      { type: 'ephemeral' },
    ]);
    expect(input).toEqual(before);
    expect(validateRequest(request)).toEqual([]);
  });

  it('places only as many markers as there are places for', () => {
    const request = build([user('u1', 'only', 'processing')], 'u1');
    expect(countCacheMarkers(request)).toBe(1);
    expect(request.messages[0]?.content).toEqual([{ type: 'text', text: 'only', cache_control: { type: 'ephemeral' } }]);
  });

  it('never marks a thinking block', () => {
    const request = build(
      [user('u1', 'q', 'processing'), reply('a1', 'u1', [thought('t', 's'), use('A'), result('A')], 'processing')],
      'u1',
      { settings: settings({ thinkingBudgetTokens: 1500 }) },
    );
    expect(request.messages[1]?.content).toEqual([
      { type: 'thinking', thinking: 't', signature: 's' },
      { type: 'tool_use', id: 'A', name: 'lookup', input: { q: 'A' } },
    ]);
    expect(countCacheMarkers(request)).toBe(2);
  });
});
