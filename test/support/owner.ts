import type { Owner } from '../../src/domain/records.ts';

/** The owner a store or engine call acts for: a whole tenant, or one subject in it. */
export function ownerOf(tenantId: string, subjectId: string | null = null): Owner {
  return { tenantId, subjectId };
}
