import { Migration } from '@mikro-orm/migrations';

export class Migration20261202213236_usage_records extends Migration {

  override name = 'Migration20261202213236_usage_records';

  override up(): void | Promise<void> {
    this.addSql(`create table "usage_record" ("id" uuid not null, "tenant_id" text not null, "subject_id" text null, "conversation_id" uuid not null, "message_id" uuid not null, "reply_id" uuid not null, "attempt" int not null, "round" int not null, "model" text not null, "input_tokens" int not null, "output_tokens" int not null, "cache_creation_input_tokens" int not null, "cache_read_input_tokens" int not null, "web_search_requests" int not null default 0, "stop_reason" text null, "started_at" timestamptz not null, "ended_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "usage_record_tenant_time_idx" on "usage_record" ("tenant_id", "ended_at");`);
    this.addSql(`alter table "usage_record" add constraint "usage_record_request_key" unique ("reply_id", "attempt", "round");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "usage_record" cascade;`);
  }

}
