import { defineEntity, p } from '@mikro-orm/core';

/** A key every instance of the deployment shares (the page tokens' HMAC key), made by a migration. */
export const ServerSecretEntity = defineEntity({
  name: 'ServerSecret',
  tableName: 'server_secret',
  properties: {
    name: p.text().primary(),
    value: p.text(),
    createdAt: p.datetime(),
  },
});
