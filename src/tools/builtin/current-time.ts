import type { InProcessTool } from '../types.ts';

export interface CurrentTimeOptions {
  /** The clock; injectable so tests can fix the instant. */
  now?: () => Date;
}

const DEFAULT_TIME_ZONE = 'UTC';

export function currentTimeTool(options: CurrentTimeOptions = {}): InProcessTool {
  const now = options.now ?? (() => new Date());
  return {
    name: 'current_time',
    description:
      'Returns the current date and time in a time zone: an ISO 8601 timestamp with the UTC ' +
      'offset, followed by the weekday, date, time and zone abbreviation. Use it whenever the ' +
      'answer depends on today\'s date or the time of day; you do not otherwise know them.',
    inputSchema: {
      type: 'object',
      properties: {
        time_zone: {
          type: 'string',
          description: 'IANA time zone name such as "Europe/Paris" or "America/New_York". Defaults to "UTC".',
        },
      },
      additionalProperties: false,
    },
    execute: async (input) => {
      const requested = input['time_zone'] ?? DEFAULT_TIME_ZONE;
      if (typeof requested !== 'string') throw new Error('input.time_zone: must be string');
      return describeInstant(now(), requested);
    },
  };
}

/** "2026-11-24T12:34:56+01:00 (Tuesday, 24 November 2026, 12:34:56 CET, Europe/Paris)" */
export function describeInstant(instant: Date, timeZone: string): string {
  let numeric: Intl.DateTimeFormat;
  try {
    numeric = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
      timeZoneName: 'longOffset',
    });
  } catch {
    throw new Error(
      `Unknown time zone "${timeZone}". Use an IANA time zone name such as "Europe/Paris", "America/New_York" or "UTC".`,
    );
  }
  const n = parts(numeric, instant);
  const offset = n['timeZoneName'] === 'GMT' ? '+00:00' : (n['timeZoneName'] ?? '').replace(/^GMT/, '');
  const iso = `${n['year']}-${n['month']}-${n['day']}T${n['hour']}:${n['minute']}:${n['second']}${offset}`;

  const words = parts(
    new Intl.DateTimeFormat('en-GB', {
      timeZone,
      weekday: 'long',
      day: 'numeric',
      month: 'long',
      year: 'numeric',
    }),
    instant,
  );
  const date = `${words['weekday']}, ${words['day']} ${words['month']} ${words['year']}`;
  const time = `${n['hour']}:${n['minute']}:${n['second']}`;
  return `${iso} (${date}, ${time} ${abbreviation(instant, timeZone)}, ${displayName(numeric, timeZone)})`;
}

/**
 * en-US knows the American abbreviations (EST), en-GB the European ones (CET, BST); where
 * neither has one, the GMT offset form (GMT+9) is the clearest name left.
 */
function abbreviation(instant: Date, timeZone: string): string {
  let fallback = '';
  for (const locale of ['en-US', 'en-GB']) {
    const name = parts(new Intl.DateTimeFormat(locale, { timeZone, timeZoneName: 'short' }), instant)['timeZoneName'] ?? '';
    if (!/^GMT[+-]/.test(name)) return name;
    fallback ||= name;
  }
  return fallback;
}

/** The canonical spelling when it is the same zone name ("europe/paris"), else the name as asked (ICU maps Asia/Kolkata to Asia/Calcutta). */
function displayName(format: Intl.DateTimeFormat, requested: string): string {
  const resolved = format.resolvedOptions().timeZone;
  return resolved.toLowerCase() === requested.toLowerCase() ? resolved : requested;
}

function parts(format: Intl.DateTimeFormat, instant: Date): Partial<Record<Intl.DateTimeFormatPartTypes, string>> {
  const result: Partial<Record<Intl.DateTimeFormatPartTypes, string>> = {};
  for (const part of format.formatToParts(instant)) result[part.type] = part.value;
  return result;
}
