import type { MessageCreateParamsBase, MessageParam } from '@anthropic-ai/sdk/resources/messages';
import { describe, expect, it } from 'vitest';
import { validateRequest } from '../../src/engine/history/index.ts';

const ephemeral = { type: 'ephemeral' } as const;

function request(messages: MessageParam[], extra: Partial<MessageCreateParamsBase> = {}): MessageCreateParamsBase {
  return { model: 'claude-test', max_tokens: 4096, messages, ...extra };
}

const validToolRound: MessageParam[] = [
  { role: 'user', content: [{ type: 'text', text: 'weather?' }] },
  {
    role: 'assistant',
    content: [
      { type: 'thinking', thinking: 'need the tool', signature: 'sig' },
      { type: 'tool_use', id: 'A', name: 'weather', input: {} },
      { type: 'tool_use', id: 'B', name: 'weather', input: {} },
    ],
  },
  {
    role: 'user',
    content: [
      { type: 'tool_result', tool_use_id: 'A', content: 'sunny' },
      { type: 'tool_result', tool_use_id: 'B', content: 'rain', is_error: true },
      { type: 'text', text: 'and tomorrow?' },
    ],
  },
];

function expectProblem(params: MessageCreateParamsBase, fragment: string): void {
  expect(validateRequest(params)).toContainEqual(expect.stringContaining(fragment));
}

describe('validateRequest', () => {
  it('accepts a valid request with a tool round, thinking and markers', () => {
    expect(
      validateRequest(
        request(validToolRound, {
          thinking: { type: 'enabled', budget_tokens: 1024 },
          system: [{ type: 'text', text: 'sys', cache_control: ephemeral }],
          tools: [{ name: 'weather', input_schema: { type: 'object' }, cache_control: ephemeral }],
        }),
      ),
    ).toEqual([]);
  });

  it('accepts string content as a text block', () => {
    expect(validateRequest(request([{ role: 'user', content: 'hi' }]))).toEqual([]);
  });

  it('requires messages', () => {
    expectProblem(request([]), 'must not be empty');
  });

  it('requires a user turn first and last, and alternating roles', () => {
    expectProblem(request([{ role: 'assistant', content: 'a' }, { role: 'user', content: 'u' }]), 'first turn must be a user turn');
    expectProblem(request([{ role: 'user', content: 'u' }, { role: 'assistant', content: 'a' }]), 'last turn must be a user turn');
    expectProblem(request([{ role: 'user', content: 'u' }, { role: 'user', content: 'u2' }]), 'roles must alternate');
    expectProblem(request([{ role: 'system', content: 's' }, { role: 'user', content: 'u' }]), 'role must be user or assistant');
  });

  it('rejects empty content and blank text blocks', () => {
    expectProblem(request([{ role: 'user', content: [] }]), 'messages[0]: content is empty');
    expectProblem(request([{ role: 'user', content: ' \n' }]), 'text block is empty or blank');
    expectProblem(request([{ role: 'user', content: [{ type: 'text', text: 'x' }, { type: 'text', text: '' }] }]), 'content[1]: text block');
    expectProblem(request([{ role: 'user', content: 'x' }], { system: [{ type: 'text', text: ' ' }] }), 'system[0]');
  });

  it('requires every tool_use to be answered at the start of the very next user turn', () => {
    const unanswered = structuredClone(validToolRound);
    unanswered[2] = { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'A', content: 'sunny' }] };
    expectProblem(request(unanswered), 'tool_use B not answered');

    const textFirst = structuredClone(validToolRound);
    textFirst[2] = {
      role: 'user',
      content: [
        { type: 'text', text: 'first!' },
        { type: 'tool_result', tool_use_id: 'A', content: 'sunny' },
        { type: 'tool_result', tool_use_id: 'B', content: 'rain' },
      ],
    };
    const problems = validateRequest(request(textFirst));
    expect(problems).toContainEqual(expect.stringContaining('tool_use A, B not answered'));
    expect(problems).toContainEqual(expect.stringContaining('tool_result after other content'));

    expectProblem(request(validToolRound.slice(0, 2)), 'not answered');
  });

  it('rejects tool_result blocks that answer nothing in the preceding assistant turn', () => {
    expectProblem(request([{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'X', content: 'r' }] }]), 'answers no tool_use');
    const extra = structuredClone(validToolRound);
    const last = extra[2];
    if (last !== undefined && Array.isArray(last.content)) {
      last.content.splice(2, 0, { type: 'tool_result', tool_use_id: 'A', content: 'again' }, { type: 'tool_result', tool_use_id: 'Z', content: 'z' });
    }
    const problems = validateRequest(request(extra));
    expect(problems).toContainEqual(expect.stringContaining('second tool_result for A'));
    expect(problems).toContainEqual(expect.stringContaining('tool_result Z answers no tool_use'));
  });

  it('rejects duplicate tool_use ids and misplaced tool blocks', () => {
    const twice: MessageParam[] = [
      ...validToolRound,
      { role: 'assistant', content: [{ type: 'tool_use', id: 'A', name: 'weather', input: {} }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'A', content: 'x' }] },
    ];
    expectProblem(request(twice), 'tool_use id A is used more than once');
    expectProblem(request([{ role: 'user', content: [{ type: 'tool_use', id: 'Q', name: 'n', input: {} }] }]), 'tool_use block outside');
  });

  it('rejects blank tool_result content', () => {
    expectProblem(request([...validToolRound.slice(0, 2), {
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 'A', content: '' },
        { type: 'tool_result', tool_use_id: 'B', content: [{ type: 'text', text: ' ' }] },
      ],
    }]), 'tool_result content is blank');
  });

  it('requires signed thinking blocks in assistant turns', () => {
    const unsigned = structuredClone(validToolRound);
    const assistant = unsigned[1];
    if (assistant !== undefined && Array.isArray(assistant.content)) {
      assistant.content[0] = { type: 'thinking', thinking: 'x', signature: '' };
    }
    expectProblem(request(unsigned), 'thinking block has no signature');
    expectProblem(request([{ role: 'user', content: [{ type: 'thinking', thinking: 't', signature: 's' }] }]), 'thinking block outside');
    expectProblem(request([{ role: 'user', content: 'q' }, { role: 'assistant', content: [{ type: 'redacted_thinking', data: '' }] }, { role: 'user', content: 'r' }]), 'no data');
  });

  it('allows at most 4 cache_control markers, wherever they are', () => {
    const marked: MessageParam[] = [
      { role: 'user', content: [{ type: 'text', text: 'a', cache_control: ephemeral }] },
      { role: 'assistant', content: [{ type: 'text', text: 'b', cache_control: ephemeral }] },
      { role: 'user', content: [{ type: 'text', text: 'c', cache_control: ephemeral }] },
    ];
    const base = request(marked, { system: [{ type: 'text', text: 's', cache_control: ephemeral }] });
    expect(validateRequest(base)).toEqual([]);
    expectProblem({ ...base, cache_control: ephemeral }, '5 markers, at most 4');
    expectProblem({ ...base, tools: [{ name: 't', input_schema: { type: 'object' }, cache_control: ephemeral }] }, '5 markers');
  });

  it('checks the thinking budget against its floor and max_tokens, and forced tool choice', () => {
    const messages: MessageParam[] = [{ role: 'user', content: 'q' }];
    expectProblem(request(messages, { thinking: { type: 'enabled', budget_tokens: 1023 } }), 'at least 1024');
    expectProblem(request(messages, { max_tokens: 2000, thinking: { type: 'enabled', budget_tokens: 2000 } }), 'less than max_tokens');
    expectProblem(request(messages, { thinking: { type: 'enabled', budget_tokens: 2000 }, tool_choice: { type: 'any' } }), 'forces tool use');
    expect(validateRequest(request(messages, { thinking: { type: 'disabled' }, tool_choice: { type: 'any' } }))).toEqual([]);
  });

  it('rejects sampling parameters, which the API version in use no longer accepts', () => {
    const withTemperature = { ...request([{ role: 'user', content: 'q' }]), temperature: 0.5 };
    expectProblem(withTemperature, 'temperature');
  });

  it('rejects duplicate tool names, an empty model and a non-positive max_tokens', () => {
    const schema = { type: 'object' as const };
    expectProblem(request([{ role: 'user', content: 'q' }], { tools: [{ name: 'x', input_schema: schema }, { name: 'x', input_schema: schema }] }), 'defined more than once');
    expectProblem(request([{ role: 'user', content: 'q' }], { model: ' ' }), 'model');
    expectProblem(request([{ role: 'user', content: 'q' }], { max_tokens: 0 }), 'max_tokens');
  });

  it('reports every violation, not just the first', () => {
    const problems = validateRequest(
      request([{ role: 'assistant', content: [] }, { role: 'assistant', content: [{ type: 'text', text: '' }] }], {
        thinking: { type: 'enabled', budget_tokens: 10 },
      }),
    );
    expect(problems.length).toBeGreaterThanOrEqual(5);
  });
});
