import { Migration } from '@mikro-orm/migrations';

export class Migration20261124153458_streamed_blocks extends Migration {

  override name = 'Migration20261124153458_streamed_blocks';

  override up(): void | Promise<void> {
    this.addSql(`alter table "block" add "streamed_after" bigint null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "block" drop column "streamed_after";`);
  }

}
