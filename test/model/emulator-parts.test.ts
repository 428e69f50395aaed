import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { ApiRequestError } from '../../src/emulator/errors.ts';
import { planReply } from '../../src/emulator/reply-plan.ts';
import { estimateInputTokens, splitIntoTokens } from '../../src/emulator/tokens.ts';
import type { ReplyBlock, WireBlock, WireMessage } from '../../src/emulator/types.ts';
import { parseCountTokensRequest, parseMessagesRequest, type ValidationOptions } from '../../src/emulator/validate.ts';
import { planContext as context } from './plan-context.ts';

describe('splitIntoTokens', () => {
  it('gives back the text exactly, in small well-formed pieces', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
        const tokens = splitIntoTokens(text);
        expect(tokens.join('')).toBe(text);
        for (const token of tokens) {
          expect(token.length).toBeGreaterThan(0);
          expect(Array.from(token).length).toBeLessThanOrEqual(6);
          expect(token.isWellFormed()).toBe(true);
        }
      }),
    );
  });

  it('keeps short words whole with their leading space', () => {
    expect(splitIntoTokens('Hello big world')).toEqual(['Hello', ' big', ' world']);
    expect(splitIntoTokens('extraordinary')).toEqual(['extr', 'aord', 'inar', 'y']);
  });
});

describe('estimateInputTokens', () => {
  it('is characters / 4, rounded up, at least 1', () => {
    expect(estimateInputTokens({ messages: [{ role: 'user', content: 'a' }] })).toBe(1);
    expect(estimateInputTokens({ messages: [{ role: 'user', content: 'abcdefghi' }] })).toBe(3);
    expect(estimateInputTokens({ system: 'abcd', messages: [{ role: 'user', content: 'abcd' }] })).toBe(2);
  });
});

const blockArbitrary: fc.Arbitrary<ReplyBlock> = fc.oneof(
  fc.record({ type: fc.constant('text' as const), text: fc.string({ minLength: 1, maxLength: 60 }) }),
  fc.record({ type: fc.constant('thinking' as const), thinking: fc.string({ maxLength: 60 }) }),
  fc.record({ type: fc.constant('redacted_thinking' as const), data: fc.base64String({ maxLength: 20 }) }),
  fc.record({
    type: fc.constant('tool_use' as const),
    name: fc.constantFrom('a', 'b'),
    input: fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 10 })),
  }),
);

describe('planReply', () => {
  it('always makes a well-formed stream whose usage counts its deltas, within max_tokens', () => {
    fc.assert(
      fc.property(fc.array(blockArbitrary, { maxLength: 5 }), fc.integer({ min: 1, max: 40 }), (blocks, maxTokens) => {
        const plan = planReply({ blocks }, context(maxTokens));
        const types = plan.events.map((event) => event.data.type);
        expect(types[0]).toBe('message_start');
        expect(types.slice(-2)).toEqual(['message_delta', 'message_stop']);
        expect(types.filter((type) => type === 'ping')).toHaveLength(1);

        const open = new Set<unknown>();
        let expectedIndex = 0;
        for (const { data } of plan.events) {
          if (data.type === 'content_block_start') {
            expect(data.index).toBe(expectedIndex);
            open.add(data.index);
          }
          if (data.type === 'content_block_delta') expect(open.has(data.index)).toBe(true);
          if (data.type === 'content_block_stop') {
            expect(open.delete(data.index)).toBe(true);
            expectedIndex += 1;
          }
        }
        expect(open.size).toBe(0);

        const tokens = plan.events.reduce((sum, event) => sum + event.tokens, 0);
        expect(plan.message.usage.output_tokens).toBe(tokens);
        expect(tokens).toBeLessThanOrEqual(maxTokens);
        expect(plan.message.content).toHaveLength(expectedIndex);
        if (plan.message.stop_reason !== 'max_tokens') expect(plan.message.content).toHaveLength(blocks.length);
      }),
    );
  });

  it('records each signature with the exact text it signs', () => {
    const plan = planReply(
      { blocks: [{ type: 'thinking', thinking: 'a b c' }, { type: 'thinking', thinking: 'x', signature: 'given' }] },
      context(100),
    );
    expect([...plan.signatures]).toEqual([
      ['signed:a b c', 'a b c'],
      ['given', 'x'],
    ]);
  });
});

const options: ValidationOptions = { strictHistory: true, knownSignatures: new Map() };
const body = (messages: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  model: 'm',
  max_tokens: 2048,
  messages,
  ...extra,
});

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof ApiRequestError) return error.message;
    throw error;
  }
  throw new Error('expected the request to be refused');
}

const use = (id: string): WireBlock => ({ type: 'tool_use', id, name: 't', input: {} });
const result = (id: string): WireBlock => ({ type: 'tool_result', tool_use_id: id, content: 'ok' });

describe('request validation', () => {
  it('accepts a well-formed tool exchange and keeps unknown fields', () => {
    const messages: WireMessage[] = [
      { role: 'user', content: 'go' },
      { role: 'assistant', content: [{ type: 'text', text: 'sure' }, use('toolu_a'), use('toolu_b')] },
      { role: 'user', content: [result('toolu_b'), result('toolu_a'), { type: 'text', text: 'thanks' }] },
    ];
    const parsed = parseMessagesRequest(body(messages, { metadata: { user_id: 'u' } }), options);
    expect(parsed.messages).toEqual(messages);
    expect(parsed.metadata).toEqual({ user_id: 'u' });
  });

  it('checks pairing over merged consecutive messages, as the API merges them', () => {
    const messages = [
      { role: 'user', content: 'go' },
      { role: 'assistant', content: [use('toolu_a')] },
      { role: 'user', content: [result('toolu_a')] },
      { role: 'user', content: 'more' },
    ];
    expect(() => parseMessagesRequest(body(messages), options)).not.toThrow();
  });

  it('refuses a tool_result without its tool_use', () => {
    const message = refusal(() => parseMessagesRequest(body([{ role: 'user', content: [result('toolu_z')] }]), options));
    expect(message).toContain('messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_z');
  });

  it('refuses duplicate tool_use ids', () => {
    const messages = [
      { role: 'user', content: 'go' },
      { role: 'assistant', content: [use('toolu_a'), use('toolu_a')] },
      { role: 'user', content: [result('toolu_a')] },
    ];
    expect(refusal(() => parseMessagesRequest(body(messages), options))).toContain('`tool_use` ids must be unique');
  });

  it('lets strictHistory be turned off', () => {
    const messages = [{ role: 'user', content: [result('toolu_z')] }];
    expect(() => parseMessagesRequest(body(messages), { ...options, strictHistory: false })).not.toThrow();
  });

  it('with thinking on, wants the tool-calling turn to open with its thinking', () => {
    const thinking = { type: 'enabled', budget_tokens: 1024 };
    const withoutThinking = [
      { role: 'user', content: 'go' },
      { role: 'assistant', content: [use('toolu_a')] },
      { role: 'user', content: [result('toolu_a')] },
    ];
    expect(refusal(() => parseMessagesRequest(body(withoutThinking, { thinking }), options))).toContain(
      'Expected `thinking` or `redacted_thinking`, but found `tool_use`',
    );
    const withThinking = [
      withoutThinking[0],
      { role: 'assistant', content: [{ type: 'thinking', thinking: 'hm', signature: 's' }, use('toolu_a')] },
      withoutThinking[2],
    ];
    expect(() => parseMessagesRequest(body(withThinking, { thinking }), options)).not.toThrow();
  });

  it('checks the thinking budget', () => {
    const messages = [{ role: 'user', content: 'go' }];
    expect(refusal(() => parseMessagesRequest(body(messages, { thinking: { type: 'enabled', budget_tokens: 100 } }), options))).toContain(
      'greater than or equal to 1024',
    );
    expect(
      refusal(() =>
        parseMessagesRequest(body(messages, { max_tokens: 1500, thinking: { type: 'enabled', budget_tokens: 2000 } }), options),
      ),
    ).toContain('`max_tokens` must be greater than `thinking.budget_tokens`');
  });

  it('checks tools', () => {
    const messages = [{ role: 'user', content: 'go' }];
    const tool = { name: 'same', input_schema: { type: 'object' } };
    expect(refusal(() => parseMessagesRequest(body(messages, { tools: [tool, tool] }), options))).toBe(
      'tools: Tool names must be unique.',
    );
    expect(refusal(() => parseMessagesRequest(body(messages, { tools: [{ name: 'no_schema' }] }), options))).toContain(
      'input_schema: Field required',
    );
    expect(refusal(() => parseMessagesRequest(body(messages, { tools: [{ ...tool, name: 'bad name' }] }), options))).toContain(
      'String should match pattern',
    );
  });

  it('allows an empty final assistant message only', () => {
    expect(() =>
      parseMessagesRequest(body([{ role: 'user', content: 'go' }, { role: 'assistant', content: '' }]), options),
    ).not.toThrow();
    expect(refusal(() => parseMessagesRequest(body([{ role: 'user', content: '' }]), options))).toContain(
      'all messages must have non-empty content',
    );
  });

  it('refuses a prefill that ends in whitespace', () => {
    const messages = [
      { role: 'user', content: 'go' },
      { role: 'assistant', content: 'The answer is ' },
    ];
    expect(refusal(() => parseMessagesRequest(body(messages), options))).toBe(
      'messages: final assistant content cannot end with trailing whitespace',
    );
  });

  it('count_tokens needs no max_tokens', () => {
    expect(parseCountTokensRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }] }, options).model).toBe('m');
    expect(refusal(() => parseCountTokensRequest({ messages: [{ role: 'user', content: 'x' }] }, options))).toBe(
      'model: Field required',
    );
  });
});
