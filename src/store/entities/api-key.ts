import { defineEntity, p } from '@mikro-orm/core';

/** An API key of a tenant: only its hash is kept; the prefix finds the row. */
export const ApiKeyEntity = defineEntity({
  name: 'ApiKey',
  tableName: 'api_key',
  properties: {
    // The public part of the key (`parley_<prefix>_…`): what `keys list` shows and `keys revoke` takes.
    prefix: p.text().primary(),
    tenantId: p.text(),
    // SHA-256 (hex) of the whole key; the key itself is shown once and never stored.
    secretHash: p.text(),
    createdAt: p.datetime().onCreate(() => new Date()),
    // Set once; a revoked key never works again.
    revokedAt: p.datetime().nullable(),
  },
});
