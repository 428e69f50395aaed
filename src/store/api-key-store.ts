import { generateApiKey } from '../domain/api-key.ts';
import type { Database } from './database.ts';

export interface ApiKeyRecord {
  prefix: string;
  tenantId: string;
  createdAt: Date;
  revokedAt: Date | null;
}

export interface StoredApiKey extends ApiKeyRecord {
  secretHash: string;
}

interface ApiKeyRow {
  prefix: string;
  tenant_id: string;
  secret_hash: string;
  created_at: Date;
  revoked_at: Date | null;
}

/** Tenants' API keys: made, listed and revoked by the keys command, looked up per request. */
export class ApiKeyStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** A new key for `tenantId`; the returned `key` is the only copy there will ever be. */
  async create(tenantId: string): Promise<ApiKeyRecord & { key: string }> {
    const { key, prefix, hash } = generateApiKey();
    const [row] = await this.#db.query<ApiKeyRow>(
      'insert into api_key (prefix, tenant_id, secret_hash, created_at) values ($1, $2, $3, now()) returning *',
      [prefix, tenantId, hash],
    );
    return { ...toRecord(row!), key };
  }

  /** Every key, newest first, revoked ones included. */
  async list(): Promise<ApiKeyRecord[]> {
    return (await this.#db.query<ApiKeyRow>('select * from api_key order by created_at desc, prefix')).map(toRecord);
  }

  /** Revokes the key; false when no key has this prefix or it was revoked already. */
  async revoke(prefix: string): Promise<boolean> {
    const rows = await this.#db.query('update api_key set revoked_at = now() where prefix = $1 and revoked_at is null returning prefix', [prefix]);
    return rows.length > 0;
  }

  async find(prefix: string): Promise<StoredApiKey | null> {
    const [row] = await this.#db.query<ApiKeyRow>('select * from api_key where prefix = $1', [prefix]);
    return row ? { ...toRecord(row), secretHash: row.secret_hash } : null;
  }

  /** Whether any key that works exists: with none, a loopback instance may run open. */
  async anyActive(): Promise<boolean> {
    const rows = await this.#db.query('select 1 from api_key where revoked_at is null limit 1');
    return rows.length > 0;
  }
}

function toRecord(row: ApiKeyRow): ApiKeyRecord {
  return { prefix: row.prefix, tenantId: row.tenant_id, createdAt: new Date(row.created_at), revokedAt: row.revoked_at ? new Date(row.revoked_at) : null };
}
