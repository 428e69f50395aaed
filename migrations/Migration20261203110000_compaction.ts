import { Migration } from '@mikro-orm/migrations';

export class Migration20261203110000_compaction extends Migration {

  override name = 'Migration20261203110000_compaction';

  override up(): void | Promise<void> {
    // Summaries that stand for older exchanges in what the model is sent (context management).
    this.addSql(`create table "compaction" ("id" uuid not null, "conversation_id" uuid not null, "through_message_id" uuid not null, "reply_id" uuid not null, "summary" text not null, "model" text not null, "tokens_before" int not null, "tokens_after" int not null, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "compaction_conversation_idx" on "compaction" ("conversation_id", "created_at");`);
    this.addSql(`alter table "compaction" add constraint "compaction_conversation_id_foreign" foreign key ("conversation_id") references "conversation" ("id") on delete cascade;`);
    this.addSql(`alter table "compaction" add constraint "compaction_through_message_id_foreign" foreign key ("through_message_id") references "message" ("id") on delete cascade;`);
    this.addSql(`alter table "compaction" add constraint "compaction_reply_id_foreign" foreign key ("reply_id") references "message" ("id") on delete cascade;`);

    // A compaction's model request is on the ledger too, beside the reply's request of its round
    // (a round may make several). The key that lands a retried write once is the reply's alone.
    this.addSql(`alter table "usage_record" add "purpose" text not null default 'reply';`);
    this.addSql(`alter table "usage_record" add constraint "usage_record_purpose_check" check ("purpose" in ('reply', 'compaction'));`);
    this.addSql(`alter table "usage_record" drop constraint "usage_record_request_key";`);
    this.addSql(`create unique index "usage_record_request_key" on "usage_record" ("reply_id", "attempt", "round") where "purpose" = 'reply';`);
  }

  override down(): void | Promise<void> {
    this.addSql(`delete from "usage_record" where "purpose" = 'compaction';`);
    this.addSql(`drop index "usage_record_request_key";`);
    this.addSql(`alter table "usage_record" add constraint "usage_record_request_key" unique ("reply_id", "attempt", "round");`);
    this.addSql(`alter table "usage_record" drop constraint "usage_record_purpose_check";`);
    this.addSql(`alter table "usage_record" drop column "purpose";`);
    this.addSql(`drop table if exists "compaction" cascade;`);
  }

}
