import { Migration } from '@mikro-orm/migrations';

export class Migration20261203060000_server_secrets extends Migration {

  override name = 'Migration20261203060000_server_secrets';

  override up(): void | Promise<void> {
    // Keys every instance of one deployment shares, made once by the database itself:
    // gen_random_uuid() draws from PostgreSQL's strong random source (2 × 122 random bits).
    this.addSql(`create table "server_secret" ("name" text not null, "value" text not null, "created_at" timestamptz not null default now(), primary key ("name"));`);
    this.addSql(`insert into "server_secret" ("name", "value") values ('page_token', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "server_secret" cascade;`);
  }

}
