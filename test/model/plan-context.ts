import type { PlanContext } from '../../src/emulator/reply-plan.ts';

/** A fixed context for planning replies in tests: ids and signatures are predictable. */
export const planContext = (maxTokens: number): PlanContext => ({
  model: 'm',
  maxTokens,
  stopSequences: [],
  inputTokens: 10,
  messageId: 'msg_test',
  newToolUseId: () => 'toolu_test',
  sign: (thinking) => `signed:${thinking}`,
});
