import pino from 'pino';
import type { LogLevel } from './config.ts';
import { logContext } from './log-context.ts';
import { prettyLine } from './log-pretty.ts';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface LoggerOptions {
  /** On every line: which instance wrote it. */
  instanceId?: string;
}

/**
 * One JSON object per line on stderr: what log collectors expect, and nothing to configure. On a
 * terminal, one readable line per entry instead. `write` takes every line (JSON, newline-ended)
 * in place of stderr: tests read the lines back.
 *
 * The lines are written synchronously: main exits the process right after shutdown, and a
 * worker-thread transport would lose what it had not yet written.
 */
export function createLogger(level: LogLevel, write?: (line: string) => void, options: LoggerOptions = {}): Logger {
  const logger = pino(
    {
      level,
      base: options.instanceId === undefined ? {} : { instanceId: options.instanceId },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        // Names, not pino's numbers: readable with grep, and what the lines said before pino.
        level: (label) => ({ level: label }),
        log: (fields) => withErrorsSerialised(fields),
      },
      mixin: () => ({ ...logContext() }),
    },
    write ? { write } : destination(),
  );
  const at = (method: 'debug' | 'info' | 'warn' | 'error') => (message: string, fields?: Record<string, unknown>) => {
    // A message is never a format string: '%s' in one stays as it is.
    if (logger.isLevelEnabled(method)) logger[method](fields ?? {}, '%s', message);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

function destination(): pino.DestinationStream {
  // pino-pretty would do the terminal lines, but brings a dozen packages for a view only a
  // developer at a terminal sees; prettyLine is enough for that and keeps stderr JSON otherwise.
  if (process.stderr.isTTY) return { write: (line: string) => void process.stderr.write(prettyLine(line)) };
  return pino.destination({ fd: 2, sync: true });
}

/**
 * Errors as their name, message and stack (JSON.stringify would give `{}`), wherever they are
 * among the fields: `{ error }`, or inside an object or array a few levels down.
 */
function withErrorsSerialised(fields: Record<string, unknown>): Record<string, unknown> {
  const seen = new Set<unknown>();
  const walk = (value: unknown, depth: number): unknown => {
    if (value instanceof Error) {
      const { name, message, stack } = value;
      const cause = value.cause === undefined || depth >= MAX_DEPTH ? {} : { cause: walk(value.cause, depth + 1) };
      return { name, message, stack, ...cause };
    }
    if (typeof value !== 'object' || value === null || depth >= MAX_DEPTH || seen.has(value)) return value;
    seen.add(value);
    if (Array.isArray(value)) return value.map((item) => walk(item, depth + 1));
    if (Object.getPrototypeOf(value) !== Object.prototype) return value;
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, walk(item, depth + 1)]));
  };
  return walk(fields, 0) as Record<string, unknown>;
}

const MAX_DEPTH = 4;
