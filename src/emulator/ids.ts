import { createHmac, randomBytes } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** 248 = 4 × 62: bytes at or above it are skipped so every character is equally likely. */
const UNBIASED_LIMIT = 248;

function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte >= UNBIASED_LIMIT) continue;
      out += BASE62[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

// Prefixes and lengths follow ids seen from the real API, so code that parses or logs them sees the same shapes.
export const newMessageId = (): string => `msg_01${randomBase62(22)}`;
export const newToolUseId = (): string => `toolu_01${randomBase62(22)}`;
export const newRequestId = (): string => `req_011C${randomBase62(20)}`;

/**
 * Signs thinking text the way the API's opaque signatures behave: bound to the exact text, so a
 * client that re-serializes or edits a thinking block is caught when it sends it back.
 */
export function signThinking(key: Uint8Array, thinking: string): string {
  // Real signatures are a few hundred base64 characters; a long value catches columns sized too small.
  const parts = [0, 1, 2, 3, 4, 5].map((i) => createHmac('sha256', key).update(`${i}:${thinking}`, 'utf8').digest());
  return Buffer.concat(parts).toString('base64');
}
