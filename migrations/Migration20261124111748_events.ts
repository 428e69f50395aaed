import { Migration } from '@mikro-orm/migrations';

export class Migration20261124111748_events extends Migration {

  override name = 'Migration20261124111748_events';

  override up(): void | Promise<void> {
    this.addSql(`create table "event" ("conversation_id" uuid not null, "seq" bigint not null, "payload" json not null, "created_at" timestamptz not null, primary key ("conversation_id", "seq"));`);

    this.addSql(`alter table "conversation" add "last_seq" bigint not null default '0';`);

    this.addSql(`alter table "event" add constraint "event_conversation_id_foreign" foreign key ("conversation_id") references "conversation" ("id") on delete cascade;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "event" cascade;`);

    this.addSql(`alter table "conversation" drop column "last_seq";`);
  }

}
