import { defineEntity, p } from '@mikro-orm/core';

/** A tenant's limits, as the keys command set them (fields it leaves out fall back to PARLEY_TENANT_LIMITS). */
export const TenantPolicyEntity = defineEntity({
  name: 'TenantPolicy',
  tableName: 'tenant_policy',
  properties: {
    tenantId: p.text().primary(),
    // A TenantPolicy (src/domain/tenant-policy.ts), checked by its parser when written and read.
    policy: p.json<Record<string, unknown>>(),
    updatedAt: p.datetime(),
  },
});
