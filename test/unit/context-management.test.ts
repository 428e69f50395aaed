// The pure parts of context management: the budget a policy comes to, which tool calls are
// cleared, how many exchanges a compaction summarizes, and reading the API's refusal.
import { APIError } from '@anthropic-ai/sdk';
import type { MessageParam } from '@anthropic-ai/sdk/resources/messages';
import { describe, expect, it } from 'vitest';
import { contextBudget, contextPolicyOf, DEFAULT_CONTEXT_POLICY } from '../../src/domain/context-policy.ts';
import { CLEARED_TOOL_RESULT, clearOldToolUses } from '../../src/engine/context/clear-tool-uses.ts';
import { exchangesToSummarize } from '../../src/engine/context/compaction-plan.ts';
import { promptTooLong } from '../../src/engine/context/context-errors.ts';
import { TokenCalibration } from '../../src/engine/context/estimate.ts';

function toolRounds(count: number): MessageParam[] {
  const messages: MessageParam[] = [{ role: 'user', content: 'go' }];
  for (let i = 0; i < count; i++) {
    messages.push({ role: 'assistant', content: [{ type: 'text', text: `call ${i}` }, { type: 'tool_use', id: `t${i}`, name: 'look', input: { i } }] });
    messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: `t${i}`, content: `result ${i}` }] });
  }
  return messages;
}

const resultsOf = (messages: MessageParam[]) =>
  messages.flatMap((m) => (typeof m.content === 'string' ? [] : m.content.flatMap((b) => (b.type === 'tool_result' ? [String(b.content)] : []))));

describe('context budget', () => {
  it('is 80 % of the window by default, never past the window less max_tokens', () => {
    expect(contextBudget(DEFAULT_CONTEXT_POLICY, 200_000, 4_096)).toMatchObject({ triggerTokens: 160_000, limitTokens: 195_904, keepToolUses: 3 });
    expect(contextBudget(DEFAULT_CONTEXT_POLICY, 200_000, 64_000)).toMatchObject({ triggerTokens: 136_000, limitTokens: 136_000 });
    expect(contextBudget({ ...DEFAULT_CONTEXT_POLICY, triggerTokens: 50_000, keepToolUses: 7 }, 200_000, 4_096)).toMatchObject({ triggerTokens: 50_000, keepToolUses: 7 });
  });

  it('reads settings stored before policies existed as the defaults', () => {
    expect(contextPolicyOf(undefined)).toEqual(DEFAULT_CONTEXT_POLICY);
    expect(contextPolicyOf({ strategy: 'off' })).toEqual({ ...DEFAULT_CONTEXT_POLICY, strategy: 'off' });
  });
});

describe('clearing old tool calls', () => {
  it('keeps the newest calls whole and clears the others in steps of five, pairs kept', () => {
    const { messages, clearedToolUses } = clearOldToolUses(toolRounds(12), 3);
    // 9 over the three kept: 5 cleared (a step), 4 wait for the next step.
    expect(clearedToolUses).toBe(5);
    const results = resultsOf(messages);
    expect(results.slice(0, 5)).toEqual(Array(5).fill(CLEARED_TOOL_RESULT));
    expect(results.slice(5)).toEqual(['result 5', 'result 6', 'result 7', 'result 8', 'result 9', 'result 10', 'result 11']);
    const inputs = messages.flatMap((m) => (typeof m.content === 'string' ? [] : m.content.flatMap((b) => (b.type === 'tool_use' ? [b.input] : []))));
    expect(inputs.slice(0, 6)).toEqual([{}, {}, {}, {}, {}, { i: 5 }]);
    // Text and roles are untouched.
    expect(messages.map((m) => m.role)).toEqual(toolRounds(12).map((m) => m.role));
  });

  it('clears every call past the kept ones when fewer than a step are over, and nothing when none are', () => {
    expect(clearOldToolUses(toolRounds(5), 3).clearedToolUses).toBe(2);
    expect(clearOldToolUses(toolRounds(3), 3).clearedToolUses).toBe(0);
    expect(resultsOf(clearOldToolUses(toolRounds(3), 3).messages)).toEqual(['result 0', 'result 1', 'result 2']);
  });
});

describe('what a compaction summarizes', () => {
  it('the oldest exchanges, as few as bring the history to its target', () => {
    expect(exchangesToSummarize({ past: [100, 100, 100, 100], fixedTokens: 200, targetTokens: 450 })).toBe(2);
    expect(exchangesToSummarize({ past: [100, 100], fixedTokens: 100, targetTokens: 1_000 })).toBe(0);
    // The fixed part alone past the target: everything older goes.
    expect(exchangesToSummarize({ past: [10, 10, 10], fixedTokens: 500, targetTokens: 450 })).toBe(3);
  });
});

describe('the estimate', () => {
  it("takes the API's count of a request as its scale, within bounds", () => {
    const calibration = new TokenCalibration();
    const request = { messages: [{ role: 'user' as const, content: 'x'.repeat(4_000) }] };
    const first = calibration.estimate(request);
    calibration.observe(request, first * 2);
    expect(calibration.estimate(request) / first).toBeCloseTo(2, 2);
    calibration.observe(request, first * 100);
    expect(calibration.estimate(request) / first).toBeCloseTo(4, 2);
  });
});

describe('the API refusing a request as too long', () => {
  const refusal = (message: string) => new APIError(400, { type: 'error', error: { type: 'invalid_request_error', message } }, message, new Headers());
  it('gives the count and the limit, of either wording', () => {
    expect(promptTooLong(refusal('prompt is too long: 210000 tokens > 200000 maximum'))).toEqual({ tokens: 210_000, limit: 200_000 });
    expect(promptTooLong(refusal('input length and `max_tokens` exceed context limit: 199759 + 8192 > 200000, decrease input length or `max_tokens` and try again'))).toEqual({
      tokens: 199_759,
      limit: 191_808,
    });
    expect(promptTooLong(refusal('messages: text content blocks must be non-empty'))).toBeNull();
    expect(promptTooLong(new Error('prompt is too long: 1 tokens > 0 maximum'))).toBeNull();
  });
});
