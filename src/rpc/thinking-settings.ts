// The thinking setting of a conversation (adaptive thinking, effort, display), between
// protobuf and the domain, checked against what the conversation's model takes.
import { create } from '@bufbuild/protobuf';
import { Effort as ProtoEffort, ThinkingDisplay as ProtoDisplay, ThinkingMode, ThinkingSchema, type Thinking } from '../../gen/parley/v1/conversation_pb.ts';
import { thinkingSupportOf, type Effort, type ThinkingDisplay, type ThinkingSettings } from '../domain/model-thinking.ts';
import { invalid } from './validate.ts';

const EFFORTS: Record<number, Effort | null> = {
  [ProtoEffort.UNSPECIFIED]: null,
  [ProtoEffort.LOW]: 'low',
  [ProtoEffort.MEDIUM]: 'medium',
  [ProtoEffort.HIGH]: 'high',
  [ProtoEffort.XHIGH]: 'xhigh',
  [ProtoEffort.MAX]: 'max',
};
const DISPLAYS: Record<number, ThinkingDisplay | null> = {
  [ProtoDisplay.UNSPECIFIED]: null,
  [ProtoDisplay.SUMMARIZED]: 'summarized',
  [ProtoDisplay.OMITTED]: 'omitted',
};

/** `field` is the settings' path ("settings"); the model and budget are already checked. */
export function thinkingFromProto(field: string, input: Thinking | undefined, context: { model: string; thinkingBudgetTokens: number }): ThinkingSettings {
  const support = thinkingSupportOf(context.model);
  const mode = input?.mode ?? ThinkingMode.UNSPECIFIED;
  if (mode !== ThinkingMode.UNSPECIFIED && mode !== ThinkingMode.ADAPTIVE) throw invalid(`${field}.thinking.mode`, `${mode} is not a thinking mode`);
  const effort = EFFORTS[input?.effort ?? ProtoEffort.UNSPECIFIED];
  if (effort === undefined) throw invalid(`${field}.thinking.effort`, `${input?.effort} is not an effort level`);
  const display = DISPLAYS[input?.display ?? ProtoDisplay.UNSPECIFIED];
  if (display === undefined) throw invalid(`${field}.thinking.display`, `${input?.display} is not a thinking display`);
  if (mode === ThinkingMode.ADAPTIVE) {
    if (!support.adaptive) throw invalid(`${field}.thinking.mode`, `${context.model} has no adaptive thinking; use thinking_budget_tokens`);
    if (context.thinkingBudgetTokens !== 0) throw invalid(`${field}.thinking_budget_tokens`, 'must be 0 with adaptive thinking, which decides its own budget');
  } else {
    if (context.thinkingBudgetTokens !== 0 && !support.budget) {
      throw invalid(`${field}.thinking_budget_tokens`, `${context.model} takes only adaptive thinking: set thinking.mode to THINKING_MODE_ADAPTIVE and thinking_budget_tokens to 0`);
    }
    if (display !== null && context.thinkingBudgetTokens === 0) throw invalid(`${field}.thinking.display`, 'applies only when the model thinks');
  }
  if (effort !== null && !support.effort) throw invalid(`${field}.thinking.effort`, `${context.model} has no effort parameter`);
  if (effort !== null && !support.efforts.includes(effort)) {
    throw invalid(`${field}.thinking.effort`, `${context.model} does not take effort ${effort}; it takes ${support.efforts.join(', ')}`);
  }
  return { mode: mode === ThinkingMode.ADAPTIVE ? 'adaptive' : 'budget', effort, display };
}

export function thinkingToProto(settings: ThinkingSettings): Thinking {
  const effort = Object.entries(EFFORTS).find(([, value]) => value === settings.effort)?.[0];
  const display = Object.entries(DISPLAYS).find(([, value]) => value === settings.display)?.[0];
  return create(ThinkingSchema, {
    mode: settings.mode === 'adaptive' ? ThinkingMode.ADAPTIVE : ThinkingMode.UNSPECIFIED,
    effort: Number(effort ?? 0) as ProtoEffort,
    display: Number(display ?? 0) as ProtoDisplay,
  });
}
