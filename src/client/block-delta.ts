import type { Block } from '../../gen/parley/v1/conversation_pb.ts';
import type { BlockDelta } from '../../gen/parley/v1/event_pb.ts';

/** What a content delta applies to; partial JSON is kept beside the block, not in it. */
export type ContentDelta = Exclude<BlockDelta['delta'], { case: 'partialJson' } | { case: undefined }>;

/**
 * The block with the delta appended, as a new object, or a reason when the delta does not fit the
 * block's kind.
 */
export function appendDelta(block: Block, delta: ContentDelta): Block | string {
  const content = block.content;
  switch (delta.case) {
    case 'text':
      if (content.case !== 'text') return `text delta on a ${content.case ?? 'empty'} block`;
      return {
        ...block,
        content: { case: 'text', value: { ...content.value, text: content.value.text + delta.value } },
      };
    case 'thinking':
      if (content.case !== 'thinking') return `thinking delta on a ${content.case ?? 'empty'} block`;
      return {
        ...block,
        content: { case: 'thinking', value: { ...content.value, thinking: content.value.thinking + delta.value } },
      };
    case 'signature':
      if (content.case !== 'thinking') return `signature delta on a ${content.case ?? 'empty'} block`;
      return {
        ...block,
        content: { case: 'thinking', value: { ...content.value, signature: content.value.signature + delta.value } },
      };
  }
}
