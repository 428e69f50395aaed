import { Migration } from '@mikro-orm/migrations';

export class Migration20261203090000_attempt_instance extends Migration {

  override name = 'Migration20261203090000_attempt_instance';

  override up(): void | Promise<void> {
    // Which instance ran the attempt: null for attempts made before the column existed.
    this.addSql(`alter table "message" add "instance_id" text null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "message" drop column "instance_id";`);
  }

}
