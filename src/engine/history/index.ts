export { buildHistory, exchangeTurns, pastExchanges, summaryText, type HistoryCompaction, type HistoryInput } from './build-history.ts';
export { selectExchanges, type Exchange } from './select-exchanges.ts';
export { validateRequest, countCacheMarkers, MIN_THINKING_BUDGET_TOKENS } from './validate-request.ts';
export { placeCacheBreakpoints, MAX_CACHE_BREAKPOINTS } from './cache-breakpoints.ts';
export { HistoryInputError } from './history-input-error.ts';
export { MISSING_TOOL_RESULT_TEXT, EMPTY_TOOL_RESULT_TEXT } from './to-request-messages.ts';
