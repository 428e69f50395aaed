export { buildHistory, type HistoryInput } from './build-history.ts';
export { validateRequest, countCacheMarkers, MIN_THINKING_BUDGET_TOKENS } from './validate-request.ts';
export { placeCacheBreakpoints, MAX_CACHE_BREAKPOINTS } from './cache-breakpoints.ts';
export { HistoryInputError } from './history-input-error.ts';
export { MISSING_TOOL_RESULT_TEXT, EMPTY_TOOL_RESULT_TEXT } from './to-request-messages.ts';
