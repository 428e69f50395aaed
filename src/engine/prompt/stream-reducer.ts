import type { RawMessageStreamEvent } from '@anthropic-ai/sdk/resources/messages';
import { applyDelta } from '../../domain/apply-delta.ts';
import type { BlockDelta } from '../../domain/events.ts';
import type { BlockContent } from '../../domain/records.ts';

/** What one stream event does to the reply's blocks, by the stream's block index. */
export type BlockChange =
  | { type: 'start'; index: number; content: BlockContent }
  | { type: 'delta'; index: number; delta: BlockDelta }
  | { type: 'stop'; index: number; content: BlockContent };

interface OpenBlock {
  content: BlockContent;
  /** Tool input JSON as it streams; parsed when the block stops. */
  partialJson: string;
}

/**
 * Accumulates one model call's stream into blocks: the one place stream content is gathered.
 * Each event becomes at most one block change; the reply writer stores and publishes changes
 * without keeping content of its own. Blocks Parley does not store (server tool blocks) are
 * skipped, and so are their deltas and stops.
 */
export class StreamReducer {
  readonly #open = new Map<number, OpenBlock>();

  apply(event: RawMessageStreamEvent): BlockChange | null {
    switch (event.type) {
      case 'content_block_start': {
        const content = initialContent(event.content_block);
        if (!content) return null;
        this.#open.set(event.index, { content, partialJson: '' });
        return { type: 'start', index: event.index, content };
      }
      case 'content_block_delta': {
        const open = this.#open.get(event.index);
        const delta = deltaOf(event.delta);
        if (!open || !delta || delta.value === '') return null;
        open.content = applyDelta(open.content, delta);
        if (delta.kind === 'partial_json') open.partialJson += delta.value;
        return { type: 'delta', index: event.index, delta };
      }
      case 'content_block_stop': {
        const content = this.#close(event.index);
        return content ? { type: 'stop', index: event.index, content } : null;
      }
      default:
        return null;
    }
  }

  /**
   * Stops every block still open, as it stands: a stream cut off by an error or a stop keeps
   * its partial text. Returns the stops in stream order.
   */
  closeAll(): Array<Extract<BlockChange, { type: 'stop' }>> {
    return [...this.#open.keys()].sort((a, b) => a - b).map((index) => ({ type: 'stop', index, content: this.#close(index)! }));
  }

  #close(index: number): BlockContent | null {
    const open = this.#open.get(index);
    if (!open) return null;
    this.#open.delete(index);
    return open.content.type === 'tool_use' ? { ...open.content, input: parseInput(open.partialJson) } : open.content;
  }
}

type StreamBlockStart = Extract<RawMessageStreamEvent, { type: 'content_block_start' }>['content_block'];
type StreamDelta = Extract<RawMessageStreamEvent, { type: 'content_block_delta' }>['delta'];

/** A block as it starts streaming. Server-side tool blocks are not part of Parley's model. */
function initialContent(block: StreamBlockStart): BlockContent | null {
  switch (block.type) {
    case 'text':
      return { type: 'text', text: block.text };
    case 'thinking':
      return { type: 'thinking', thinking: block.thinking, signature: block.signature };
    case 'redacted_thinking':
      return { type: 'redacted_thinking', data: block.data };
    case 'tool_use':
      return { type: 'tool_use', id: block.id, name: block.name, input: {} };
    default:
      return null;
  }
}

function deltaOf(delta: StreamDelta): BlockDelta | null {
  switch (delta.type) {
    case 'text_delta':
      return { kind: 'text', value: delta.text };
    case 'thinking_delta':
      return { kind: 'thinking', value: delta.thinking };
    case 'signature_delta':
      return { kind: 'signature', value: delta.signature };
    case 'input_json_delta':
      return { kind: 'partial_json', value: delta.partial_json };
    default:
      return null;
  }
}

function parseInput(json: string): Record<string, unknown> {
  if (json.trim() === '') return {};
  try {
    const value: unknown = JSON.parse(json);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    // Cut off mid-input (max_tokens, a cancel): the call cannot run; keep the block, without input.
    return {};
  }
}
