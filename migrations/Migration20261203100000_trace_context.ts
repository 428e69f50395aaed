import { Migration } from '@mikro-orm/migrations';

export class Migration20261203100000_trace_context extends Migration {

  override name = 'Migration20261203100000_trace_context';

  override up(): void | Promise<void> {
    // The traceparent of the request that queued a user message; null when it was not traced.
    this.addSql(`alter table "message" add "trace_context" text null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "message" drop column "trace_context";`);
  }

}
