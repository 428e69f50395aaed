import { Migration } from '@mikro-orm/migrations';

export class Migration20261124110330_queue extends Migration {

  override name = 'Migration20261124110330_queue';

  override up(): void | Promise<void> {
    this.addSql(`alter table "message" add "attempt" int not null default 0, add "lease_expires_at" timestamptz null, add "cancel_requested" boolean not null default false;`);
    this.addSql(`create index "message_queued_idx" on "message" ("id") where "role" = 'user' and "status" = 'queued';`);
    this.addSql(`create index "message_lease_idx" on "message" ("lease_expires_at") where "role" = 'user' and "status" = 'processing';`);
    this.addSql(`create unique index "message_one_active_prompt_key" on "message" ("conversation_id") where "role" = 'user' and "status" = 'processing';`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "message_queued_idx";`);
    this.addSql(`drop index "message_lease_idx";`);
    this.addSql(`drop index "message_one_active_prompt_key";`);
    this.addSql(`alter table "message" drop column "attempt", drop column "lease_expires_at", drop column "cancel_requested";`);
  }

}
