import type { JsonObject } from '@bufbuild/protobuf';
import type { RpcClient } from './clients.ts';

export interface StoredMessage {
  id: string;
  role: 'ROLE_USER' | 'ROLE_ASSISTANT';
  status: string;
  replyToId?: string;
  stopReason?: string;
  error?: { code: string; message: string };
  blocks?: Array<{ text?: { text: string }; toolUse?: JsonObject; toolResult?: JsonObject; thinking?: JsonObject }>;
}

const TERMINAL = new Set(['MESSAGE_STATUS_COMPLETED', 'MESSAGE_STATUS_FAILED', 'MESSAGE_STATUS_CANCELLED']);

async function ok(client: RpcClient, method: string, request: JsonObject): Promise<JsonObject> {
  const result = await client.unary(method, request);
  if (!result.ok) throw new Error(`${method} failed: ${result.code} ${result.message}`);
  return result.response as JsonObject;
}

/** Thin helpers over a real client: what a caller of the service does. */
export function conversationApi(client: RpcClient) {
  return {
    async create(settings: JsonObject = {}, title = 'test'): Promise<string> {
      const response = await ok(client, 'CreateConversation', { title, settings });
      return (response.conversation as { id: string }).id;
    },
    async send(conversationId: string, text: string, requestId?: string): Promise<StoredMessage & { queuePosition?: number }> {
      const response = await ok(client, 'SendMessage', { conversationId, text, ...(requestId ? { requestId } : {}) });
      return response.message as unknown as StoredMessage;
    },
    async messages(conversationId: string): Promise<StoredMessage[]> {
      const response = await ok(client, 'GetConversation', { conversationId });
      return (response.messages ?? []) as unknown as StoredMessage[];
    },
    /** Polls until every user message has ended, or fails after `timeoutMs`. */
    async settled(conversationId: string, timeoutMs = 20_000): Promise<StoredMessage[]> {
      return this.until(conversationId, (messages) => messages.filter((m) => m.role === 'ROLE_USER').every((m) => TERMINAL.has(m.status)), timeoutMs);
    },
    async until(conversationId: string, done: (messages: StoredMessage[]) => boolean, timeoutMs = 20_000): Promise<StoredMessage[]> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const messages = await this.messages(conversationId);
        if (done(messages)) return messages;
        if (Date.now() > deadline) throw new Error(`conversation did not reach the expected state: ${JSON.stringify(messages, null, 1)}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
  };
}

export function textOf(message: StoredMessage): string {
  return (message.blocks ?? []).map((block) => block.text?.text ?? '').join('');
}

/** Each user message followed by the replies to it, in order. */
export function repliesTo(messages: StoredMessage[], userMessageId: string): StoredMessage[] {
  return messages.filter((m) => m.replyToId === userMessageId);
}
