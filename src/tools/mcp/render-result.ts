import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { SourceCallResult } from '../types.ts';

/** Past this the model gains little and the context window pays a lot. */
export const DEFAULT_MAX_RESULT_CHARS = 100_000;

type LegacyResult = { toolResult: unknown };
type ContentItem = CallToolResult['content'][number];

/**
 * The model reads tool results as text: text content is joined, other content is named briefly
 * (it is not forwarded), and structured content stands in when there is no text at all.
 */
export function renderCallResult(result: CallToolResult | LegacyResult, maxChars = DEFAULT_MAX_RESULT_CHARS): SourceCallResult {
  if ('toolResult' in result) {
    // Servers on the 2024-10-07 protocol answer with toolResult instead of content.
    return { content: truncate(stringify(result.toolResult), maxChars), isError: false };
  }
  const parts = (result.content ?? []).map(describeItem);
  let content = parts.join('\n');
  if (content === '' && result.structuredContent !== undefined) content = stringify(result.structuredContent);
  return { content: truncate(content, maxChars), isError: result.isError === true };
}

function describeItem(item: ContentItem): string {
  switch (item.type) {
    case 'text':
      return item.text;
    case 'image':
      return `[image: ${item.mimeType}, ${formatBytes(base64Bytes(item.data))}; not shown]`;
    case 'audio':
      return `[audio: ${item.mimeType}, ${formatBytes(base64Bytes(item.data))}; not shown]`;
    case 'resource': {
      const resource = item.resource;
      const type = resource.mimeType ? `, ${resource.mimeType}` : '';
      if ('text' in resource) return `[resource ${resource.uri}${type}]\n${resource.text}`;
      return `[resource ${resource.uri}${type}, ${formatBytes(base64Bytes(resource.blob))} of binary data; not shown]`;
    }
    case 'resource_link':
      return `[resource link: ${item.name} ${item.uri}${item.mimeType ? ` (${item.mimeType})` : ''}]`;
    default:
      return `[${String((item as { type: unknown }).type)} content; not shown]`;
  }
}

function base64Bytes(data: string): number {
  const padding = data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0;
  return Math.max(0, Math.floor((data.length * 3) / 4) - padding);
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

function stringify(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function truncate(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  return `${text.slice(0, maxChars)}\n[… ${text.length - maxChars} more characters cut: the result exceeded ${maxChars} characters]`;
}
