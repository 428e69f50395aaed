import { Migration } from '@mikro-orm/migrations';

export class Migration20261124105545_initial extends Migration {

  override name = 'Migration20261124105545_initial';

  override up(): void | Promise<void> {
    this.addSql(`create table "conversation" ("id" uuid not null, "owner_id" text not null, "title" text not null, "settings" jsonb not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "conversation_owner_listing_idx" on "conversation" ("owner_id", "id");`);

    this.addSql(`create table "message" ("id" uuid not null, "conversation_id" uuid not null, "role" text not null, "status" text not null, "error" jsonb null, "reply_to" uuid null, "stop_reason" text null, "model" text null, "usage" jsonb null, "queue_position" int not null default 0, "request_id" text null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "started_at" timestamptz null, "ended_at" timestamptz null, primary key ("id"));`);
    this.addSql(`create index "message_conversation_idx" on "message" ("conversation_id", "id");`);
    this.addSql(`alter table "message" add constraint "message_request_id_key" unique ("conversation_id", "request_id");`);

    this.addSql(`create table "block" ("message_id" uuid not null, "position" int not null, "content" json not null, primary key ("message_id", "position"));`);

    this.addSql(`alter table "message" add constraint "message_conversation_id_foreign" foreign key ("conversation_id") references "conversation" ("id") on delete cascade;`);
    this.addSql(`alter table "message" add constraint "message_role_check" check ("role" in ('user', 'assistant'));`);
    this.addSql(`alter table "message" add constraint "message_status_check" check ("status" in ('queued', 'processing', 'completed', 'failed', 'cancelled'));`);

    this.addSql(`alter table "block" add constraint "block_message_id_foreign" foreign key ("message_id") references "message" ("id") on delete cascade;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "message" drop constraint "message_conversation_id_foreign";`);
    this.addSql(`alter table "block" drop constraint "block_message_id_foreign";`);

    this.addSql(`drop table if exists "conversation" cascade;`);
    this.addSql(`drop table if exists "message" cascade;`);
    this.addSql(`drop table if exists "block" cascade;`);
  }

}
