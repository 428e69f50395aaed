// Which thinking settings a model takes, by its name, as the API documents them (Anthropic's
// and Amazon Bedrock's adaptive thinking pages): adaptive thinking from Claude Opus 4.6 and
// Sonnet 4.6 on; only adaptive on Opus 4.7, Mythos and Fable (a budget, or thinking disabled,
// is a 400 there); the effort parameter from Opus 4.5 on. A name this table does not know (a
// proxy's alias, a model newer than this code) is given the benefit of the doubt.

export type Effort = 'low' | 'medium' | 'high' | 'xhigh' | 'max';
export type ThinkingDisplay = 'summarized' | 'omitted';

/** How a conversation's model thinks. `budget`: thinking_budget_tokens decides (0: none). */
export interface ThinkingSettings {
  mode: 'budget' | 'adaptive';
  /** null: the model's default (high). */
  effort: Effort | null;
  /** null: the model's default. */
  display: ThinkingDisplay | null;
}

export const DEFAULT_THINKING: ThinkingSettings = { mode: 'budget', effort: null, display: null };

export interface ThinkingSupport {
  adaptive: boolean;
  /** A thinking budget (and thinking turned off) are accepted. */
  budget: boolean;
  effort: boolean;
  /** The effort levels it takes, when it takes effort. */
  efforts: readonly Effort[];
}

const ALL_EFFORTS: readonly Effort[] = ['low', 'medium', 'high', 'xhigh', 'max'];
// Opus 4.5 and the 4.6 models answer `xhigh` with a 400 ("Supported levels: high, low, medium"
// on Opus 4.5, which has no `max` either).
const WITHOUT_XHIGH: readonly Effort[] = ['low', 'medium', 'high', 'max'];

const ADAPTIVE_ONLY = /^claude-(opus-4-7|mythos|fable)/;
// Families and versions from which adaptive thinking exists: 4.6 and later, every 5 and later.
const ADAPTIVE = /^claude-(opus|sonnet|haiku)-(4-[6-9]|[5-9])/;
const OLDER = /^claude-(3|instant|(opus|sonnet|haiku)-(3|4-[0-5]|4$|4-\d{8}))/;

export function thinkingSupportOf(model: string): ThinkingSupport {
  if (ADAPTIVE_ONLY.test(model)) return { adaptive: true, budget: false, effort: true, efforts: ALL_EFFORTS };
  if (ADAPTIVE.test(model)) return { adaptive: true, budget: true, effort: true, efforts: /-4-6/.test(model) ? WITHOUT_XHIGH : ALL_EFFORTS };
  if (OLDER.test(model)) {
    const opus45 = model.startsWith('claude-opus-4-5');
    return { adaptive: false, budget: true, effort: opus45, efforts: opus45 ? ['low', 'medium', 'high'] : [] };
  }
  return { adaptive: true, budget: true, effort: true, efforts: ALL_EFFORTS };
}

/** Settings stored before thinking settings existed read as the budget form. */
export function thinkingOf(stored: Partial<ThinkingSettings> | undefined): ThinkingSettings {
  return { ...DEFAULT_THINKING, ...stored };
}
