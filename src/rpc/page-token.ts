import { invalid } from './validate.ts';

// Opaque to callers: a versioned cursor, so its format can change without breaking old tokens
// silently (an unknown version is rejected, not misread).
interface Cursor {
  v: 1;
  after: string;
}

export function encodePageToken(afterId: string): string {
  return Buffer.from(JSON.stringify({ v: 1, after: afterId } satisfies Cursor)).toString('base64url');
}

/** The id to continue after, or null for the first page. */
export function decodePageToken(token: string, isId: (value: string) => boolean): string | null {
  if (token === '') return null;
  try {
    const cursor = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<Cursor>;
    if (cursor.v === 1 && typeof cursor.after === 'string' && isId(cursor.after)) return cursor.after;
  } catch {
    // fall through: reported below
  }
  throw invalid('page_token', 'is not a token returned by ListConversations');
}
