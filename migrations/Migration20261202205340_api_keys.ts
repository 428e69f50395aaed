import { Migration } from '@mikro-orm/migrations';

export class Migration20261202205340_api_keys extends Migration {

  override name = 'Migration20261202205340_api_keys';

  override up(): void | Promise<void> {
    this.addSql(`create table "api_key" ("prefix" text not null, "tenant_id" text not null, "secret_hash" text not null, "created_at" timestamptz not null, "revoked_at" timestamptz null, primary key ("prefix"));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "api_key" cascade;`);
  }

}
