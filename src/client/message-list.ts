import type { Block, Message } from '../../gen/parley/v1/conversation_pb.ts';

// Copy-on-write edits of the message list: every edit returns new arrays and new objects along
// the path it changes, and shares everything else.

/** Index of the message, searching from the end where streaming happens. */
export function indexOfMessage(messages: readonly Message[], id: string): number {
  return messages.findLastIndex((message) => message.id === id);
}

/**
 * Adds a message where the server lists it: messages are ordered by id (time-ordered UUIDs),
 * which is not always the order their events arrive in.
 */
export function insertById(messages: readonly Message[], message: Message): Message[] {
  const next = messages.slice();
  let at = next.length;
  while (at > 0 && next[at - 1]!.id > message.id) at--;
  next.splice(at, 0, message);
  return next;
}

export function replaceAt(messages: readonly Message[], index: number, message: Message): Message[] {
  const next = messages.slice();
  next[index] = message;
  return next;
}

/**
 * Puts the block at `index` of the message: replacing one, or appending when `index` is the
 * length. Returns a reason instead when the message or position does not exist.
 */
export function withBlock(
  messages: readonly Message[],
  messageId: string,
  index: number,
  block: Block,
): Message[] | string {
  const at = indexOfMessage(messages, messageId);
  const message = messages[at];
  if (message === undefined) return `unknown message ${messageId}`;
  if (index > message.blocks.length) {
    return `block ${index} of message ${messageId}, which has ${message.blocks.length} blocks`;
  }
  const blocks = message.blocks.slice();
  blocks[index] = block;
  return replaceAt(messages, at, { ...message, blocks });
}

export function blockAt(messages: readonly Message[], messageId: string, index: number): Block | undefined {
  return messages[indexOfMessage(messages, messageId)]?.blocks[index];
}
