import { Migration } from '@mikro-orm/migrations';

export class Migration20261124114719_client_tools extends Migration {

  override name = 'Migration20261124114719_client_tools';

  override up(): void | Promise<void> {
    this.addSql(`create table "client_tool_call" ("tool_use_id" text not null, "conversation_id" uuid not null, "message_id" uuid not null, "name" text not null, "status" text not null, "deadline" timestamptz not null, "content" text null, "is_error" boolean not null default false, "applied" boolean not null default false, "created_at" timestamptz not null, "answered_at" timestamptz null, primary key ("tool_use_id"));`);
    this.addSql(`create index "client_tool_call_message_idx" on "client_tool_call" ("message_id");`);

    this.addSql(`alter table "client_tool_call" add constraint "client_tool_call_conversation_id_foreign" foreign key ("conversation_id") references "conversation" ("id") on delete cascade;`);
    this.addSql(`alter table "client_tool_call" add constraint "client_tool_call_message_id_foreign" foreign key ("message_id") references "message" ("id") on delete cascade;`);
    this.addSql(`alter table "client_tool_call" add constraint "client_tool_call_status_check" check ("status" in ('awaiting', 'answered', 'timed_out'));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "client_tool_call" cascade;`);
  }

}
