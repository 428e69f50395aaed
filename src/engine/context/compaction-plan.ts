// Which older exchanges a compaction summarizes: as few as leave the history at its target,
// the newest ones kept whole. Exchanges are whole user turns with their replies, so a tool call
// and its result always stay together, and the newest user turn is never summarized.

export interface CompactionPlanInput {
  /** Estimated tokens of each past exchange not yet summarized, oldest first. */
  past: readonly number[];
  /**
   * What the request holds besides them: system, tools, the current exchange, and the room of
   * the summary that will stand for the summarized ones.
   */
  fixedTokens: number;
  /** What the history should come down to. Below the trigger, so it can grow a while. */
  targetTokens: number;
}

/** How many of the oldest past exchanges to summarize; 0 when summarizing cannot help. */
export function exchangesToSummarize({ past, fixedTokens, targetTokens }: CompactionPlanInput): number {
  let total = fixedTokens;
  let kept = 0;
  for (let i = past.length - 1; i >= 0; i--) {
    const tokens = past[i]!;
    if (total + tokens > targetTokens) break;
    total += tokens;
    kept += 1;
  }
  return past.length - kept;
}

/** A compaction brings the history down to this share of its trigger. */
export const COMPACTION_TARGET_SHARE = 0.5;
