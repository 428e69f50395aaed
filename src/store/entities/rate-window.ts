import { defineEntity, p } from '@mikro-orm/core';

/**
 * Model requests started in one minute, for a whole tenant (subject '') or one subject: the
 * count a requests-per-minute budget is checked against, shared by every instance.
 */
export const RateWindowEntity = defineEntity({
  name: 'RateWindow',
  tableName: 'rate_window',
  properties: {
    tenantId: p.text().primary(),
    subjectId: p.text().primary(),
    windowStart: p.datetime().primary(),
    requests: p.integer(),
  },
});
