// Property tests: random stored conversations with odd data (every status, retries, thinking,
// tool blocks in odd orders, orphan results, repeated ids, blank texts) must always produce a
// request the API accepts, holding the newest turn and nothing from a failed attempt.
//
// Every stored payload embeds its message id ("m12/3 text", tool ids "m12-t1"), so the request
// can be scanned for which messages it drew from.
import { DEFAULT_CONTEXT_POLICY } from '../../src/domain/context-policy.ts';
import { DEFAULT_THINKING } from '../../src/domain/model-thinking.ts';

import type { MessageCreateParamsBase, Tool } from '@anthropic-ai/sdk/resources/messages';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildHistory, MISSING_TOOL_RESULT_TEXT, validateRequest, type HistoryInput } from '../../src/engine/history/index.ts';
import type { BlockContent, ConversationSettings, MessageRecord, MessageStatus } from '../../src/domain/records.ts';

const RUNS = 400;

type BlockKind = 'text' | 'blank' | 'thinking' | 'unsigned' | 'redacted' | 'use' | 'result';
interface BlockShape {
  kind: BlockKind;
  toolId: number;
  globalId: boolean;
  isError: boolean;
  blankContent: boolean;
}
interface AttemptShape {
  status: MessageStatus;
  blocks: BlockShape[];
}
interface ExchangeShape {
  status: MessageStatus;
  userBlocks: BlockShape[];
  attempts: AttemptShape[];
}
interface ConversationShape {
  past: ExchangeShape[];
  current: { userBlocks: BlockShape[]; attempts: AttemptShape[] };
  later: ExchangeShape[];
  thinkingBudget: number;
  extraTokens: number;
  systemPrompt: string;
  temperature: number | null;
  toolCount: number;
  toolsPremarked: boolean;
}

const statusArb = fc.constantFrom<MessageStatus>('queued', 'processing', 'completed', 'failed', 'cancelled');

function blockArb(kinds: Array<{ kind: BlockKind; weight: number }>): fc.Arbitrary<BlockShape> {
  return fc.record({
    kind: fc.oneof(...kinds.map(({ kind, weight }) => ({ arbitrary: fc.constant(kind), weight }))),
    toolId: fc.integer({ min: 0, max: 3 }),
    globalId: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
    isError: fc.boolean(),
    blankContent: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
  });
}

const assistantBlockArb = blockArb([
  { kind: 'text', weight: 4 },
  { kind: 'blank', weight: 1 },
  { kind: 'thinking', weight: 2 },
  { kind: 'unsigned', weight: 1 },
  { kind: 'redacted', weight: 1 },
  { kind: 'use', weight: 4 },
  { kind: 'result', weight: 4 },
]);
const userBlockArb = blockArb([
  { kind: 'text', weight: 8 },
  { kind: 'blank', weight: 2 },
  { kind: 'use', weight: 1 },
  { kind: 'result', weight: 1 },
]);
const attemptArb = fc.record({ status: statusArb, blocks: fc.array(assistantBlockArb, { maxLength: 10 }) });
const exchangeArb = fc.record({
  status: fc.oneof({ arbitrary: fc.constant<MessageStatus>('completed'), weight: 4 }, { arbitrary: statusArb, weight: 2 }),
  userBlocks: fc.array(userBlockArb, { minLength: 1, maxLength: 3 }),
  attempts: fc.array(
    fc.oneof({ arbitrary: attemptArb.map((a) => ({ ...a, status: 'completed' as const })), weight: 3 }, { arbitrary: attemptArb, weight: 2 }),
    { maxLength: 3 },
  ),
});

const conversationArb: fc.Arbitrary<ConversationShape> = fc.record({
  past: fc.array(exchangeArb, { maxLength: 7 }),
  current: fc.record({
    userBlocks: fc
      .array(userBlockArb, { minLength: 1, maxLength: 3 })
      .map((blocks) => [{ kind: 'text' as const, toolId: 0, globalId: false, isError: false, blankContent: false }, ...blocks]),
    attempts: fc.array(attemptArb, { maxLength: 3 }),
  }),
  later: fc.array(exchangeArb, { maxLength: 2 }),
  thinkingBudget: fc.oneof(fc.constant(0), fc.integer({ min: 1024, max: 8000 })),
  extraTokens: fc.integer({ min: 1, max: 4000 }),
  systemPrompt: fc.constantFrom('', '  \n', 'You are terse.'),
  temperature: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: null }),
  toolCount: fc.integer({ min: 0, max: 3 }),
  toolsPremarked: fc.boolean(),
});

const T0 = new Date('2026-01-01T00:00:00Z');
const BLANKS = ['', ' ', '\n\t '];

function payload(id: string, i: number, shape: BlockShape): BlockContent {
  const tag = `${id}/${i}`;
  const toolUseId = shape.globalId ? `g-t${shape.toolId}` : `${id}-t${shape.toolId}`;
  switch (shape.kind) {
    case 'text':
      return { type: 'text', text: `${tag} text` };
    case 'blank':
      return { type: 'text', text: BLANKS[i % BLANKS.length] ?? '' };
    case 'thinking':
      return { type: 'thinking', thinking: `${tag} thinking\n…`, signature: `${tag} sig==` };
    case 'unsigned':
      return { type: 'thinking', thinking: `${tag} thinking`, signature: '' };
    case 'redacted':
      return { type: 'redacted_thinking', data: `${tag} redacted` };
    case 'use':
      return { type: 'tool_use', id: toolUseId, name: 'tool_0', input: { tag } };
    case 'result':
      return { type: 'tool_result', toolUseId, content: shape.blankContent ? ' ' : `${tag} result`, isError: shape.isError };
  }
}

interface Built {
  input: HistoryInput;
  currentId: string;
}

function materialize(shape: ConversationShape): Built {
  const messages: MessageRecord[] = [];
  const add = (role: 'user' | 'assistant', status: MessageStatus, blocks: BlockShape[], replyToId: string | null): string => {
    const id = `m${messages.length}`;
    messages.push({
      id,
      conversationId: 'c1',
      role,
      status,
      blocks: blocks.map((b, i) => payload(id, i, b)),
      error: null,
      replyToId,
      stopReason: null,
      model: null,
      usage: null,
      queuePosition: messages.length,
      requestId: null,
      createdAt: T0,
      updatedAt: T0,
      startedAt: null,
      endedAt: null,
    });
    return id;
  };
  const addExchange = (status: MessageStatus, userBlocks: BlockShape[], attempts: AttemptShape[]): string => {
    const userId = add('user', status, userBlocks, null);
    for (const attempt of attempts) add('assistant', attempt.status, attempt.blocks, userId);
    return userId;
  };

  for (const ex of shape.past) addExchange(ex.status, ex.userBlocks, ex.attempts);
  const currentId = addExchange('processing', shape.current.userBlocks, shape.current.attempts);
  for (const ex of shape.later) addExchange(ex.status, ex.userBlocks, ex.attempts);

  const settings: ConversationSettings = {
    model: 'claude-test',
    systemPrompt: shape.systemPrompt,
    maxTokens: shape.thinkingBudget + shape.extraTokens,
    thinkingBudgetTokens: shape.thinkingBudget,
    enabledTools: [],
    clientTools: [],
    context: DEFAULT_CONTEXT_POLICY,
    thinking: DEFAULT_THINKING,
  };
  const tools: Tool[] = Array.from({ length: shape.toolCount }, (_, i) => ({
    name: `tool_${i}`,
    description: `tool ${i}`,
    input_schema: { type: 'object', properties: {} },
    ...(shape.toolsPremarked ? { cache_control: { type: 'ephemeral' as const } } : {}),
  }));
  return { input: { settings, messages, currentMessageId: currentId, tools }, currentId };
}

/** The inclusion rule, restated as plainly as possible as an oracle. */
function includedMessageIds(messages: readonly MessageRecord[], currentId: string): Set<string> {
  const included = new Set<string>([currentId]);
  const currentIndex = messages.findIndex((m) => m.id === currentId);
  const latest = (userId: string, status: MessageStatus): MessageRecord | undefined =>
    messages.filter((m) => m.role === 'assistant' && m.replyToId === userId && m.status === status).at(-1);
  messages.slice(0, currentIndex).forEach((m) => {
    if (m.role !== 'user' || m.status !== 'completed') return;
    included.add(m.id);
    const reply = latest(m.id, 'completed');
    if (reply) included.add(reply.id);
  });
  const inProgress = latest(currentId, 'processing');
  if (inProgress) included.add(inProgress.id);
  return included;
}

function referencedMessageIds(value: unknown): Set<string> {
  return new Set([...JSON.stringify(value).matchAll(/\b(m\d+)[/-]/g)].map((match) => match[1] ?? ''));
}

function userTexts(message: MessageRecord): string[] {
  return message.blocks.flatMap((b) => (b.type === 'text' && b.text.trim() !== '' ? [b.text] : []));
}

function requestTexts(request: MessageCreateParamsBase): Array<{ turn: number; text: string }> {
  return request.messages.flatMap((m, turn) =>
    typeof m.content === 'string' ? [{ turn, text: m.content }] : m.content.flatMap((b) => (b.type === 'text' ? [{ turn, text: b.text }] : [])),
  );
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

describe('buildHistory properties', () => {
  it('always produces a request validateRequest accepts', () => {
    fc.assert(
      fc.property(conversationArb, (shape) => {
        const request = buildHistory(materialize(shape).input);
        expect(validateRequest(request)).toEqual([]);
      }),
      { numRuns: RUNS },
    );
  });

  it('holds the current message text, after everything earlier, followed only by its reply in progress', () => {
    fc.assert(
      fc.property(conversationArb, (shape) => {
        const { input, currentId } = materialize(shape);
        const request = buildHistory(input);
        const current = input.messages.find((m) => m.id === currentId);
        const expected = current ? userTexts(current) : [];
        const texts = requestTexts(request);
        const found = texts.filter((t) => expected.includes(t.text));
        expect(found.map((t) => t.text)).toEqual(expected);

        const turn = found[0]?.turn ?? -1;
        expect(found.every((t) => t.turn === turn)).toBe(true);
        expect(request.messages[turn]?.role).toBe('user');

        const inProgress = input.messages.filter((m) => m.replyToId === currentId && m.status === 'processing').at(-1);
        const after = request.messages.slice(turn + 1);
        const allowedAfter = new Set(inProgress ? [inProgress.id] : []);
        expect([...referencedMessageIds(after)].filter((id) => !allowedAfter.has(id))).toEqual([]);
        if (!inProgress) expect(turn).toBe(request.messages.length - 1);
      }),
      { numRuns: RUNS },
    );
  });

  it('never includes a block from a failed, cancelled, superseded, queued or later message', () => {
    fc.assert(
      fc.property(conversationArb, (shape) => {
        const { input, currentId } = materialize(shape);
        const request = buildHistory(input);
        const included = includedMessageIds(input.messages, currentId);
        expect([...referencedMessageIds(request.messages)].filter((id) => !included.has(id))).toEqual([]);
      }),
      { numRuns: RUNS },
    );
  });

  it('keeps every text of the included user messages, in order', () => {
    fc.assert(
      fc.property(conversationArb, (shape) => {
        const { input, currentId } = materialize(shape);
        const request = buildHistory(input);
        const included = includedMessageIds(input.messages, currentId);
        const expected = input.messages.filter((m) => m.role === 'user' && included.has(m.id)).flatMap(userTexts);
        const userSide = new Set(expected);
        expect(requestTexts(request).map((t) => t.text).filter((t) => userSide.has(t))).toEqual(expected);
      }),
      { numRuns: RUNS },
    );
  });

  it('replays thinking exactly as stored when on, and sends none when off', () => {
    fc.assert(
      fc.property(conversationArb, (shape) => {
        const { input } = materialize(shape);
        const request = buildHistory(input);
        const stored = new Map<string, string>();
        for (const m of input.messages) for (const b of m.blocks) if (b.type === 'thinking') stored.set(b.thinking, b.signature);

        const thinkingBlocks = request.messages.flatMap((m) =>
          typeof m.content === 'string' ? [] : m.content.filter((b) => b.type === 'thinking' || b.type === 'redacted_thinking'),
        );
        if (shape.thinkingBudget === 0) {
          expect(thinkingBlocks).toEqual([]);
          expect(request.thinking).toBeUndefined();
          return;
        }
        expect(request.thinking).toEqual({ type: 'enabled', budget_tokens: shape.thinkingBudget });
        for (const block of thinkingBlocks) {
          if (block.type !== 'thinking') continue;
          expect(Object.keys(block).sort()).toEqual(['signature', 'thinking', 'type']);
          expect(block.signature).not.toBe('');
          expect(stored.get(block.thinking)).toBe(block.signature);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('places cache markers exactly on the last tool, the system prompt and the two newest user turns', () => {
    fc.assert(
      fc.property(conversationArb, (shape) => {
        const request = buildHistory(materialize(shape).input);
        const isMarked = (x: object) => 'cache_control' in x && x.cache_control != null;

        expect((request.tools ?? []).map(isMarked)).toEqual(Array.from({ length: shape.toolCount }, (_, i) => i === shape.toolCount - 1));
        expect((Array.isArray(request.system) ? request.system : []).map(isMarked)).toEqual(
          shape.systemPrompt.trim() === '' ? [] : [true],
        );

        const userTurns = request.messages.flatMap((m, i) => (m.role === 'user' ? [i] : []));
        const expected = userTurns.slice(-2).map((i) => {
          const content = request.messages[i]?.content ?? [];
          return `${i}.${(typeof content === 'string' ? 1 : content.length) - 1}`;
        });
        const marked = request.messages.flatMap((m, i) =>
          typeof m.content === 'string' ? [] : m.content.flatMap((b, j) => (isMarked(b) ? [`${i}.${j}`] : [])),
        );
        expect(marked).toEqual(expected);
      }),
      { numRuns: RUNS },
    );
  });

  it('is deterministic and never mutates its input', () => {
    fc.assert(
      fc.property(conversationArb, (shape) => {
        const { input } = materialize(shape);
        const snapshot = structuredClone(input);
        const first = buildHistory(deepFreeze(input));
        const second = buildHistory(snapshot);
        expect(second).toEqual(first);
        expect(input).toEqual(snapshot);
        expect(first).not.toHaveProperty('temperature');
      }),
      { numRuns: RUNS },
    );
  });

  it('sends stored tool results unchanged (id, content, error flag) and synthesized ones as errors', () => {
    fc.assert(
      fc.property(conversationArb, (shape) => {
        const { input } = materialize(shape);
        const request = buildHistory(input);
        const stored = new Map<string, { toolUseId: string; isError: boolean }>();
        for (const m of input.messages) {
          for (const b of m.blocks) if (b.type === 'tool_result') stored.set(b.content, { toolUseId: b.toolUseId, isError: b.isError });
        }
        for (const m of request.messages) {
          if (typeof m.content === 'string') continue;
          for (const b of m.content) {
            if (b.type !== 'tool_result') continue;
            if (b.content === MISSING_TOOL_RESULT_TEXT) {
              expect(b.is_error).toBe(true);
              continue;
            }
            if (b.content === '(no output)') continue;
            const original = typeof b.content === 'string' ? stored.get(b.content) : undefined;
            expect(original).toBeDefined();
            expect(b.tool_use_id).toBe(original?.toolUseId);
            expect(b.is_error === true).toBe(original?.isError);
          }
        }
      }),
      { numRuns: RUNS },
    );
  });
});
