import { createPublicKey, type KeyObject } from 'node:crypto';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Owner } from '../../domain/records.ts';

export interface JwtOptions {
  /** Where the issuer publishes its keys (fetched and cached by jose), or null. */
  jwksUrl: string | null;
  /** A PEM public key (SPKI), or a JWKS document as JSON, when there is no JWKS URL. */
  publicKey: string | null;
  issuer: string;
  audience: string;
  /** The claim that names the tenant, and the one that names the subject (end user). */
  tenantClaim: string;
  subjectClaim: string;
  clockSkewSeconds: number;
}

/**
 * Asymmetric algorithms only: the service holds no secret that could sign, and `none` or an
 * HMAC signed with the public key can never pass.
 */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** Short-lived tokens a team's own backend mints for its browser users: one tenant, one subject. */
export class JwtVerifier {
  readonly #options: JwtOptions;
  readonly #key: Promise<JWTVerifyGetKey | KeyObject>;

  constructor(options: JwtOptions) {
    this.#options = options;
    this.#key = keyOf(options);
    // A bad key is reported by the first verification (and at start, by ready()).
    this.#key.catch(() => undefined);
  }

  /** Resolves once the key is usable; rejects, saying why, when it is not. */
  async ready(): Promise<void> {
    await this.#key;
  }

  /** The owner the token acts for, or null for any token that does not verify. */
  async verify(token: string): Promise<Owner | null> {
    const { issuer, audience, clockSkewSeconds, tenantClaim, subjectClaim } = this.#options;
    try {
      const key = await this.#key;
      const verifyOptions = { issuer, audience, clockTolerance: clockSkewSeconds, algorithms: ALGORITHMS, requiredClaims: ['exp'] };
      // Two calls, one per overload of jwtVerify: TypeScript picks an overload per call, not per union.
      const { payload } =
        typeof key === 'function' ? await jwtVerify(token, key, verifyOptions) : await jwtVerify(token, key, verifyOptions);
      const tenant = payload[tenantClaim];
      const subject = payload[subjectClaim];
      if (typeof tenant !== 'string' || tenant === '' || typeof subject !== 'string' || subject === '') return null;
      return { tenantId: tenant, subjectId: subject };
    } catch {
      return null;
    }
  }
}

async function keyOf(options: JwtOptions): Promise<JWTVerifyGetKey | KeyObject> {
  if (options.jwksUrl !== null) return createRemoteJWKSet(new URL(options.jwksUrl));
  const text = options.publicKey?.trim() ?? '';
  if (text.startsWith('{')) return createLocalJWKSet(JSON.parse(text) as Parameters<typeof createLocalJWKSet>[0]);
  try {
    // A KeyObject serves every algorithm its key type allows (RS*, PS*, ES*, EdDSA).
    return createPublicKey(text);
  } catch {
    throw new Error('PARLEY_JWT_PUBLIC_KEY is neither a PEM public key nor a JWKS document');
  }
}
