// The context_management setting of a conversation, between protobuf and the domain.
import { create } from '@bufbuild/protobuf';
import { ContextManagementSchema, ContextStrategy, type ContextManagement } from '../../gen/parley/v1/conversation_pb.ts';
import type { ContextPolicy, ContextStrategy as Strategy } from '../domain/context-policy.ts';
import { invalid } from './validate.ts';

/** Below this a trigger would compact nearly every request. */
const MIN_TRIGGER_TOKENS = 1024;
const MAX_KEEP_TOOL_USES = 1000;

const FROM_PROTO: Record<number, Strategy> = {
  [ContextStrategy.UNSPECIFIED]: 'clear_then_compact',
  [ContextStrategy.CLEAR_THEN_COMPACT]: 'clear_then_compact',
  [ContextStrategy.CLEAR_TOOL_USES]: 'clear_tool_uses',
  [ContextStrategy.OFF]: 'off',
};

const TO_PROTO: Record<Strategy, ContextStrategy> = {
  clear_then_compact: ContextStrategy.CLEAR_THEN_COMPACT,
  clear_tool_uses: ContextStrategy.CLEAR_TOOL_USES,
  off: ContextStrategy.OFF,
};

/**
 * Checks the setting against the model's window. `maxTokens` is the conversation's: a window
 * that max_tokens alone fills leaves no room for any history.
 */
export function contextPolicyFromProto(field: string, input: ContextManagement | undefined, limits: { windowTokens: number; maxTokens: number }): ContextPolicy {
  if (limits.maxTokens >= limits.windowTokens) {
    throw invalid(`${field.replace(/\.context_management$/, '')}.max_tokens`, `must be less than the model's context window (${limits.windowTokens} tokens)`);
  }
  const strategy = FROM_PROTO[input?.strategy ?? ContextStrategy.UNSPECIFIED];
  if (strategy === undefined) throw invalid(`${field}.strategy`, `${input?.strategy} is not a context strategy`);
  const triggerTokens = input?.triggerTokens ?? 0;
  if (triggerTokens !== 0 && (triggerTokens < MIN_TRIGGER_TOKENS || triggerTokens > limits.windowTokens)) {
    throw invalid(`${field}.trigger_tokens`, `must be 0 (80 % of the window) or from ${MIN_TRIGGER_TOKENS} to the model's context window (${limits.windowTokens} tokens)`);
  }
  const keepToolUses = input?.keepToolUses ?? 0;
  if (keepToolUses > MAX_KEEP_TOOL_USES) throw invalid(`${field}.keep_tool_uses`, `must be at most ${MAX_KEEP_TOOL_USES}`);
  return { strategy, triggerTokens, keepToolUses };
}

export function contextPolicyToProto(policy: ContextPolicy): ContextManagement {
  return create(ContextManagementSchema, { strategy: TO_PROTO[policy.strategy], triggerTokens: policy.triggerTokens, keepToolUses: policy.keepToolUses });
}
