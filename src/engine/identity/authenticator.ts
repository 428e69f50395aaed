import { apiKeyPrefix, matchesApiKey } from '../../domain/api-key.ts';
import type { Owner } from '../../domain/records.ts';
import { requestErrors } from '../../domain/request-errors.ts';
import type { ApiKeyStore, StoredApiKey } from '../../store/api-key-store.ts';
import { isDatabaseUnavailable } from '../../store/database-unavailable.ts';
import type { JwtVerifier } from './jwt-verifier.ts';

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
  /** Verifies JWTs (browser users' tokens), when the operator configured an issuer. */
  jwt: JwtVerifier | null;
}

/** Longer than any key or reasonable JWT; a longer header is refused before any lookup. */
const MAX_TOKEN_CHARS = 8_192;
/** Subject ids a tenant key may act for (`parley-subject`), as plain as tenant names. */
const SUBJECT = /^[A-Za-z0-9][A-Za-z0-9._@:|-]{0,255}$/;
/** Cached lookups, hits and misses; past this the cache starts again (a flood of made-up prefixes). */
const MAX_CACHED = 10_000;

interface Cached<T> {
  value: T;
  until: number;
}

/**
 * Turns a request's `authorization` header into the owner it acts for, or a RequestError
 * `unauthenticated`. An API key acts for its whole tenant, or, with `actAs` (the
 * `parley-subject` header), for one subject in it; a JWT acts for the subject it names. While
 * no API key exists and no JWT issuer is configured, a request without credentials acts for the
 * open tenant: the instance runs open until the first key is made, then, within `cacheMs`, every
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

  async authenticate(authorization: string | null, actAs: string | null = null): Promise<Owner> {
    try {
      return await this.#authenticate(authorization, actAs);
    } catch (error) {
      // Not the caller's fault: it may retry, as with any other request.
      if (isDatabaseUnavailable(error)) throw requestErrors.databaseUnavailable();
      throw error;
    }
  }

  async #authenticate(authorization: string | null, actAs: string | null): Promise<Owner> {
    if (this.#options.mode === 'off') return { tenantId: OPEN_TENANT, subjectId: null };
    if (authorization === null || authorization === '') {
      if (await this.isOpen()) return { tenantId: OPEN_TENANT, subjectId: null };
      throw requestErrors.credentialsRequired();
    }
    const token = bearerToken(authorization);
    if (token === null) throw requestErrors.invalidCredentials();
    const prefix = apiKeyPrefix(token);
    if (prefix === null) {
      // Not one of our keys: a JWT, if an issuer is configured, and it cannot act for another subject.
      const owner = this.#options.jwt && actAs === null ? await this.#options.jwt.verify(token) : null;
      if (!owner) throw requestErrors.invalidCredentials();
      return owner;
    }
    const key = await this.#lookup(prefix);
    if (!key || key.revokedAt !== null || !matchesApiKey(token, key.secretHash)) throw requestErrors.invalidCredentials();
    if (actAs !== null && !SUBJECT.test(actAs)) throw requestErrors.invalidCredentials();
    return { tenantId: key.tenantId, subjectId: actAs };
  }

  /** Whether requests without credentials are served (no key exists), as of at most `cacheMs` ago. */
  async isOpen(): Promise<boolean> {
    if (this.#options.mode === 'off') return true;
    if (this.#options.jwt !== null) return false;
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
