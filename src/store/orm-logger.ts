import { stripVTControlCharacters } from 'node:util';
import type { LogContext, Logger as MikroLogger, LoggerNamespace, LoggerOptions } from '@mikro-orm/core';
import type { Logger } from '../logger.ts';

/**
 * MikroORM's output as lines of the service's logger: at debug, except warnings, errors and the
 * migrations applied or reverted. MikroORM's own logger writes to stdout with colour codes, which
 * end up in files and log collectors as escape sequences; this one never colours, and the
 * message is kept as MikroORM wrote it, without its `[namespace]` prefix (that is a field).
 */
export function ormLoggerFactory(logger: Logger): (options: LoggerOptions) => MikroLogger {
  return (options) => new OrmLogger(logger, options.debugMode ?? false);
}

class OrmLogger implements MikroLogger {
  readonly #logger: Logger;
  #debugMode: boolean | LoggerNamespace[];

  constructor(logger: Logger, debugMode: boolean | LoggerNamespace[]) {
    this.#logger = logger;
    this.#debugMode = debugMode;
  }

  log(namespace: string, message: string, context?: LogContext): void {
    if (context?.level === 'error') return this.error(namespace, message, context);
    if (context?.level === 'warning') return this.warn(namespace, message, context);
    // Deprecations are shown whatever debug mode says, as MikroORM's own logger shows them.
    if (namespace === 'deprecated') return this.warn(namespace, message, context);
    if (!this.isEnabled(namespace as LoggerNamespace, context)) return;
    const applied = namespace === 'migrator' && /^(Applied|Reverted) /.test(message);
    this.#logger[applied ? 'info' : 'debug'](plain(message), fieldsOf(namespace, context));
  }

  // Warnings and errors are always wanted, whatever namespaces debug mode names.
  error(namespace: string, message: string, context?: LogContext): void {
    this.#logger.error(plain(message), fieldsOf(namespace, context));
  }

  warn(namespace: string, message: string, context?: LogContext): void {
    this.#logger.warn(plain(message), fieldsOf(namespace, context));
  }

  logQuery(context: LogContext & { query: string }): void {
    const namespace = context.namespace ?? 'query';
    if (!this.isEnabled(namespace, context)) return;
    // Parameters are left out: they hold the conversations' text (docs/operations.md, "Bound parameters").
    const at = context.level === 'error' ? 'error' : context.level === 'warning' ? 'warn' : 'debug';
    this.#logger[at](namespace === 'slow-query' ? 'slow query' : 'query', fieldsOf(namespace, context));
  }

  setDebugMode(debugMode: boolean | LoggerNamespace[]): void {
    this.#debugMode = debugMode;
  }

  /** As MikroORM's DefaultLogger decides it: an explicit `enabled` wins, then debug mode. */
  isEnabled(namespace: LoggerNamespace, context?: LogContext): boolean {
    if (context?.enabled !== undefined) return context.enabled;
    const debugMode = context?.debugMode ?? this.#debugMode;
    return Array.isArray(debugMode) ? debugMode.includes(namespace) : debugMode;
  }
}

/**
 * MikroORM's colours are one setting for the whole process (an environment variable every ORM
 * instance sets from its options): whatever another instance set, no line gets escape codes.
 */
function plain(message: string): string {
  return stripVTControlCharacters(message);
}

function fieldsOf(namespace: string, context: LogContext | undefined): Record<string, unknown> {
  const fields: Record<string, unknown> = { component: 'orm', namespace };
  if (context?.label) fields.label = context.label;
  if (context?.query !== undefined) fields.query = context.query.replace(/\s+/g, ' ').trim();
  if (context?.took !== undefined) fields.durationMs = context.took;
  if (context?.results !== undefined) fields.results = context.results;
  if (context?.affected !== undefined) fields.affected = context.affected;
  return fields;
}
