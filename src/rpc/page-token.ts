import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Owner } from '../domain/records.ts';
import { invalid } from './validate.ts';

// Opaque to callers: a versioned cursor, so its format can change without breaking old tokens
// silently (an unknown version is rejected, not misread), and signed for the principal it was
// issued to, so that a token the server did not issue, or issued to another principal, is
// refused as the proto promises rather than read as a hand-made cursor.
interface Cursor {
  v: 2;
  after: string;
}

const MAC_BYTES = 16;

export class PageTokens {
  readonly #key: string;

  /** `key`: shared by every instance (server_secret page_token), so a token works on any. */
  constructor(key: string) {
    this.#key = key;
  }

  encode(owner: Owner, afterId: string): string {
    const payload = Buffer.from(JSON.stringify({ v: 2, after: afterId } satisfies Cursor)).toString('base64url');
    return `${payload}.${this.#mac(owner, payload).toString('base64url')}`;
  }

  /** The id to continue after, or null for the first page. */
  decode(owner: Owner, token: string, isId: (value: string) => boolean): string | null {
    if (token === '') return null;
    const [payload = '', mac = '', ...rest] = token.split('.');
    const given = Buffer.from(mac, 'base64url');
    const expected = this.#mac(owner, payload);
    // Re-encoding refuses a variant with other unused bits in its last character.
    const canonical = given.toString('base64url') === mac;
    if (rest.length === 0 && canonical && given.length === expected.length && timingSafeEqual(given, expected)) {
      try {
        const cursor = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Partial<Cursor>;
        if (cursor.v === 2 && typeof cursor.after === 'string' && isId(cursor.after)) return cursor.after;
      } catch {
        // fall through: reported below
      }
    }
    throw invalid('page_token', 'is not a token returned by ListConversations');
  }

  #mac(owner: Owner, payload: string): Buffer {
    return createHmac('sha256', this.#key).update(`${owner.tenantId}\0${owner.subjectId ?? ''}\0${payload}`).digest().subarray(0, MAC_BYTES);
  }
}
