import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

// An API key is `parley_<prefix>_<secret>`: the prefix (public, shown by `keys list`) finds the
// row; the secret (256 random bits) is never stored, only the SHA-256 of the whole key. A key
// that random needs no slow hash: nothing shorter than the secret itself can be guessed.

const PREFIX_LENGTH = 12;
const SECRET_BYTES = 32;
const SHAPE = /^parley_([0-9A-Za-z]{12})_([0-9A-Za-z_-]{43})$/;

export interface NewApiKey {
  /** The whole key: shown once, to the operator who made it. */
  key: string;
  prefix: string;
  hash: string;
}

export function generateApiKey(): NewApiKey {
  const prefix = base62(PREFIX_LENGTH);
  const key = `parley_${prefix}_${randomBytes(SECRET_BYTES).toString('base64url')}`;
  return { key, prefix, hash: hashApiKey(key) };
}

/** The prefix of a token shaped like one of our keys, else null (not a key: no lookup). */
export function apiKeyPrefix(token: string): string | null {
  return SHAPE.exec(token)?.[1] ?? null;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Whether `key` is the one stored as `hash`, in time that does not depend on where they differ. */
export function matchesApiKey(key: string, hash: string): boolean {
  const given = Buffer.from(hashApiKey(key), 'hex');
  const stored = Buffer.from(hash, 'hex');
  return given.length === stored.length && timingSafeEqual(given, stored);
}

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function base62(length: number): string {
  // 248 = 4 × 62: bytes at or above it are dropped so that every character is equally likely.
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += ALPHABET[byte % 62];
    }
  }
  return out;
}
