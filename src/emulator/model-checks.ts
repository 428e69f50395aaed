import { ApiRequestError, invalidRequest } from './errors.ts';
import { EFFORTS, rulesFor, type Effort } from './model-rules.ts';
import type { MessagesRequest } from './types.ts';

/**
 * The checks that depend on which model a request names, run after the body is valid, as the
 * API runs them: a model it does not serve, then the options that model does not support.
 */

export type ThinkingDisplay = 'summarized' | 'omitted';

/**
 * `retired` holds exact names, or prefixes ending in `*`. The API's answer for a model it does not
 * serve is a 404 `not_found_error` whose message is `model: <name>` (home-assistant/core#163831,
 * spring-projects/spring-ai#2387, mnfst/modelparams.dev#57).
 */
export function checkModelServed(model: string, retired: readonly string[]): void {
  const gone = retired.some((entry) => (entry.endsWith('*') ? model.startsWith(entry.slice(0, -1)) : model === entry));
  if (gone) throw new ApiRequestError('not_found_error', `model: ${model}`);
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const quoteList = (values: readonly string[]): string => {
  const quoted = values.map((value) => `'${value}'`);
  return quoted.length <= 1 ? quoted.join('') : `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1) ?? ''}`;
};

/**
 * `thinking.display` (adaptive and enabled alike) and `output_config.effort`, checked against the
 * model's row in model-rules.ts. The shapes are @anthropic-ai/sdk's ThinkingConfigAdaptive and
 * OutputConfig; the field-error wording follows the API's `<path>: Input should be …` form.
 */
export function checkModelOptions(request: MessagesRequest): { readonly display: ThinkingDisplay | undefined } {
  const rules = rulesFor(request.model);
  const thinking = request.thinking;
  let display: ThinkingDisplay | undefined;
  if (thinking?.type === 'adaptive' || thinking?.type === 'enabled') {
    const value = (thinking as Record<string, unknown>).display;
    if (value !== undefined && value !== null) {
      if (value !== 'summarized' && value !== 'omitted') {
        throw invalidRequest(`thinking.${thinking.type}.display: Input should be 'summarized' or 'omitted'`);
      }
      display = value;
    }
  }
  // The wording is the API's, as public reports quote it: see model-rules.ts.
  if (thinking?.type === 'adaptive' && !rules.adaptiveThinking) {
    throw invalidRequest('adaptive thinking is not supported on this model');
  }
  const config = request.output_config;
  if (config === undefined || config === null) return { display };
  if (!isRecord(config)) throw invalidRequest('output_config: Input should be a valid dictionary');
  const effort = config.effort;
  if (effort === undefined || effort === null) return { display };
  if (typeof effort !== 'string' || !(EFFORTS as readonly string[]).includes(effort)) {
    throw invalidRequest(`output_config.effort: Input should be ${quoteList(EFFORTS)}`);
  }
  if (rules.efforts.length === 0) throw invalidRequest('This model does not support the effort parameter.');
  if (!rules.efforts.includes(effort as Effort)) {
    // The API lists the supported levels in alphabetical order ("high, low, medium").
    const supported = [...rules.efforts].sort().join(', ');
    throw invalidRequest(`This model does not support effort level '${effort}'. Supported levels: ${supported}.`);
  }
  return { display };
}
