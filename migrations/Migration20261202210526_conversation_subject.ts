import { Migration } from '@mikro-orm/migrations';

export class Migration20261202210526_conversation_subject extends Migration {

  override name = 'Migration20261202210526_conversation_subject';

  override up(): void | Promise<void> {
    this.addSql(`alter table "conversation" add "subject_id" text null;`);
    this.addSql(`create index "conversation_subject_listing_idx" on "conversation" ("owner_id", "subject_id", "id");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "conversation_subject_listing_idx";`);
    this.addSql(`alter table "conversation" drop column "subject_id";`);
  }

}
