import { Migration } from '@mikro-orm/migrations';

export class Migration20261203070000_event_retention extends Migration {

  override name = 'Migration20261203070000_event_retention';

  override up(): void | Promise<void> {
    // The pruner deletes the oldest events first, in batches, on every instance.
    this.addSql(`create index "event_created_idx" on "event" ("created_at");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index if exists "event_created_idx";`);
  }

}
