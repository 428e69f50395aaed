/**
 * What the API allows per model, by model-name prefix: the longest matching prefix wins, and a
 * model no row names gets `UNKNOWN_MODEL`, which accepts every option, so that the offline model
 * answers any model name. Dated ids (`claude-opus-4-5-20251101`) match their family's row.
 *
 * Sources, all public reports of the API's own answers or of its documentation:
 * - Adaptive thinking: Opus 4.6, Sonnet 4.6 and later accept it; Opus 4.5, Sonnet 4.5, Haiku 4.5
 *   and older answer 400 `adaptive thinking is not supported on this model` (askalf/dario#273,
 *   probed against the API; docker/docker-agent#3362; vellum-ai/vellum-assistant#37276; the AWS
 *   Bedrock adaptive-thinking page lists Opus 4.6/4.7, Sonnet 4.6, Mythos Preview, Fable 5,
 *   Mythos 5, Opus 5).
 * - Effort: `This model does not support effort level 'max'. Supported levels: high, low,
 *   medium.` from Opus 4.5 (askalf/dario#491); Opus 4.6 and Sonnet 4.6 accept every level but
 *   `xhigh`, Sonnet 5, Opus 4.7/4.8/5 and Fable 5 all five (SkillfulAgents/SuperAgent#1142, probed
 *   live); `This model does not support the effort parameter.` from Sonnet 4.5
 *   (anthropics/claude-code#30795); Haiku 4.5 supports no effort (caozhiyuan/copilot-api#296).
 * - Minimum cacheable prompt: the prompt-caching documentation as quoted in
 *   anthropics/anthropic-sdk-python#1194 (4,096 for Opus 4.6, Opus 4.5 and Haiku 4.5; 1,024 for
 *   Sonnet 4.6, Sonnet 4.5, Opus 4.1, Opus 4, Sonnet 4, Sonnet 3.7; 2,048 for Haiku 3.5 and 3),
 *   with the later models from LiteLLM's prompt-caching page (512 for Opus 5, Fable 5, Mythos 5;
 *   1,024 for Sonnet 5 and Opus 4.8; 4,096 for Opus 4.7).
 */

export type Effort = 'low' | 'medium' | 'high' | 'xhigh' | 'max';

export const EFFORTS: readonly Effort[] = ['low', 'medium', 'high', 'xhigh', 'max'];

export interface ModelRules {
  readonly adaptiveThinking: boolean;
  /** The effort levels accepted; empty: the model refuses `output_config.effort` altogether. */
  readonly efforts: readonly Effort[];
  /** The shortest prefix (in tokens) a cache breakpoint may cache. */
  readonly minCacheableTokens: number;
}

const ALL: readonly Effort[] = EFFORTS;
const NO_XHIGH: readonly Effort[] = ['low', 'medium', 'high', 'max'];
const BASIC: readonly Effort[] = ['low', 'medium', 'high'];
const NONE: readonly Effort[] = [];

const rules = (adaptiveThinking: boolean, efforts: readonly Effort[], minCacheableTokens: number): ModelRules => ({
  adaptiveThinking,
  efforts,
  minCacheableTokens,
});

export const UNKNOWN_MODEL: ModelRules = rules(true, ALL, 1024);

const TABLE: ReadonlyArray<readonly [prefix: string, rules: ModelRules]> = [
  ['claude-opus-5', rules(true, ALL, 512)],
  ['claude-fable-5', rules(true, ALL, 512)],
  ['claude-mythos-5', rules(true, ALL, 512)],
  ['claude-sonnet-5', rules(true, ALL, 1024)],
  ['claude-opus-4-8', rules(true, ALL, 1024)],
  ['claude-opus-4-7', rules(true, ALL, 4096)],
  ['claude-opus-4-6', rules(true, NO_XHIGH, 4096)],
  ['claude-sonnet-4-6', rules(true, NO_XHIGH, 1024)],
  ['claude-opus-4-5', rules(false, BASIC, 4096)],
  ['claude-haiku-4-5', rules(false, NONE, 4096)],
  ['claude-sonnet-4-5', rules(false, NONE, 1024)],
  ['claude-opus-4-1', rules(false, NONE, 1024)],
  ['claude-opus-4', rules(false, NONE, 1024)],
  ['claude-sonnet-4', rules(false, NONE, 1024)],
  ['claude-3-7-sonnet', rules(false, NONE, 1024)],
  ['claude-3-5-haiku', rules(false, NONE, 2048)],
  ['claude-3-haiku', rules(false, NONE, 2048)],
  ['claude-3', rules(false, NONE, 1024)],
];

export function rulesFor(model: string): ModelRules {
  let best: readonly [string, ModelRules] | undefined;
  for (const row of TABLE) {
    if (model.startsWith(row[0]) && (best === undefined || row[0].length > best[0].length)) best = row;
  }
  return best?.[1] ?? UNKNOWN_MODEL;
}
