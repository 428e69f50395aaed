import { Migration } from '@mikro-orm/migrations';

export class Migration20261202233000_tenant_limits extends Migration {

  override name = 'Migration20261202233000_tenant_limits';

  override up(): void | Promise<void> {
    this.addSql(`create table "tenant_policy" ("tenant_id" text not null, "policy" jsonb not null, "updated_at" timestamptz not null, primary key ("tenant_id"));`);
    // One row per tenant ('' subject) or subject and minute: model requests started in it.
    this.addSql(`create table "rate_window" ("tenant_id" text not null, "subject_id" text not null, "window_start" timestamptz not null, "requests" int not null, primary key ("tenant_id", "subject_id", "window_start"));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "rate_window" cascade;`);
    this.addSql(`drop table if exists "tenant_policy" cascade;`);
  }

}
