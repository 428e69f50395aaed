import { apiKeyPrefix, matchesApiKey } from '../../domain/api-key.ts';
import { requestErrors } from '../../domain/request-errors.ts';
import type { ApiKeyStore, StoredApiKey } from '../../store/api-key-store.ts';
import { isDatabaseUnavailable } from '../../store/database-unavailable.ts';

/** Who a request acts for. */
export interface Principal {
  tenantId: string;
}

/** The tenant of every request while no key exists (or authentication is off). */
export const OPEN_TENANT = 'default';

export interface AuthenticatorOptions {
  /** `off`: every request is the open tenant, credentials or not (the operator said so). */
  mode: 'auto' | 'off';
  /**
   * How long a key lookup, and whether any key exists, is trusted before it is read again: the
   * bound on how long a revoked key keeps working, and on a new first key taking effect, on
   * every instance.
   */
  cacheMs: number;
}

/** Longer than any key we issue by far; a longer header is refused before any lookup. */
const MAX_TOKEN_CHARS = 512;
/** Cached lookups, hits and misses; past this the cache starts again (a flood of made-up prefixes). */
const MAX_CACHED = 10_000;

interface Cached<T> {
  value: T;
  until: number;
}

/**
 * Turns a request's `authorization` header into a principal, or a RequestError
 * `unauthenticated`. While no API key exists, a request without credentials acts for the open
 * tenant: the instance runs open until the first key is made, then, within `cacheMs`, every
 * instance asks for one.
 */
export class Authenticator {
  readonly #keys: ApiKeyStore;
  readonly #options: AuthenticatorOptions;
  readonly #lookups = new Map<string, Cached<StoredApiKey | null>>();
  #anyKey: Cached<boolean> | null = null;

  constructor(keys: ApiKeyStore, options: AuthenticatorOptions) {
    this.#keys = keys;
    this.#options = options;
  }

  async authenticate(authorization: string | null): Promise<Principal> {
    try {
      return await this.#authenticate(authorization);
    } catch (error) {
      // Not the caller's fault: it may retry, as with any other request.
      if (isDatabaseUnavailable(error)) throw requestErrors.databaseUnavailable();
      throw error;
    }
  }

  async #authenticate(authorization: string | null): Promise<Principal> {
    if (this.#options.mode === 'off') return { tenantId: OPEN_TENANT };
    if (authorization === null || authorization === '') {
      if (await this.isOpen()) return { tenantId: OPEN_TENANT };
      throw requestErrors.credentialsRequired();
    }
    const token = bearerToken(authorization);
    const prefix = token === null ? null : apiKeyPrefix(token);
    if (token === null || prefix === null) throw requestErrors.invalidCredentials();
    const key = await this.#lookup(prefix);
    if (!key || key.revokedAt !== null || !matchesApiKey(token, key.secretHash)) throw requestErrors.invalidCredentials();
    return { tenantId: key.tenantId };
  }

  /** Whether requests without credentials are served (no key exists), as of at most `cacheMs` ago. */
  async isOpen(): Promise<boolean> {
    if (this.#options.mode === 'off') return true;
    const now = Date.now();
    if (!this.#anyKey || this.#anyKey.until <= now) this.#anyKey = { value: await this.#keys.anyActive(), until: now + this.#options.cacheMs };
    return !this.#anyKey.value;
  }

  async #lookup(prefix: string): Promise<StoredApiKey | null> {
    const now = Date.now();
    const cached = this.#lookups.get(prefix);
    if (cached && cached.until > now) return cached.value;
    const value = await this.#keys.find(prefix);
    if (this.#lookups.size >= MAX_CACHED) this.#lookups.clear();
    this.#lookups.set(prefix, { value, until: now + this.#options.cacheMs });
    return value;
  }
}

/** The token of `Bearer <token>` (the scheme in any case, as RFC 7235 says), else null. */
function bearerToken(header: string): string | null {
  if (header.length > MAX_TOKEN_CHARS + 7) return null;
  const match = /^Bearer +(\S+) *$/i.exec(header);
  return match?.[1] ?? null;
}
