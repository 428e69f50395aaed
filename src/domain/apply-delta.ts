import type { BlockDelta } from './events.ts';
import type { BlockContent } from './records.ts';

/**
 * The one reducer of streamed text: appends a delta to the block it belongs to (a delta of
 * another kind leaves the block as it is). The prompt runner accumulates the model's stream
 * with it, and every read of a block still streaming completes the stored block with it, so a
 * reader and a subscriber that applied the same events hold the same block.
 */
export function applyDelta(block: BlockContent, delta: BlockDelta): BlockContent {
  if (delta.kind === 'text' && block.type === 'text') return { ...block, text: block.text + delta.value };
  if (delta.kind === 'thinking' && block.type === 'thinking') return { ...block, thinking: block.thinking + delta.value };
  if (delta.kind === 'signature' && block.type === 'thinking') return { ...block, signature: block.signature + delta.value };
  return block;
}
