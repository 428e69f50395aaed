import { describe, expect, it } from 'vitest';
import { currentTimeTool, describeInstant } from '../../src/tools/builtin/current-time.ts';
import { ToolExecutor } from '../../src/tools/tool-executor.ts';
import { context } from './fixtures.ts';

describe('describeInstant', () => {
  const winter = new Date('2026-01-15T12:00:00Z');
  const summer = new Date('2026-07-01T12:00:00Z');

  it.each([
    [winter, 'UTC', '2026-01-15T12:00:00+00:00 (Thursday, 15 January 2026, 12:00:00 UTC, UTC)'],
    [winter, 'Europe/Paris', '2026-01-15T13:00:00+01:00 (Thursday, 15 January 2026, 13:00:00 CET, Europe/Paris)'],
    [summer, 'Europe/Paris', '2026-07-01T14:00:00+02:00 (Wednesday, 1 July 2026, 14:00:00 CEST, Europe/Paris)'],
    [winter, 'Europe/London', '2026-01-15T12:00:00+00:00 (Thursday, 15 January 2026, 12:00:00 GMT, Europe/London)'],
    [summer, 'Europe/London', '2026-07-01T13:00:00+01:00 (Wednesday, 1 July 2026, 13:00:00 BST, Europe/London)'],
    [winter, 'America/New_York', '2026-01-15T07:00:00-05:00 (Thursday, 15 January 2026, 07:00:00 EST, America/New_York)'],
    [summer, 'America/New_York', '2026-07-01T08:00:00-04:00 (Wednesday, 1 July 2026, 08:00:00 EDT, America/New_York)'],
    [summer, 'America/Los_Angeles', '2026-07-01T05:00:00-07:00 (Wednesday, 1 July 2026, 05:00:00 PDT, America/Los_Angeles)'],
    // Southern hemisphere: summer time in January.
    [winter, 'Australia/Sydney', '2026-01-15T23:00:00+11:00 (Thursday, 15 January 2026, 23:00:00 GMT+11, Australia/Sydney)'],
    [summer, 'Australia/Sydney', '2026-07-01T22:00:00+10:00 (Wednesday, 1 July 2026, 22:00:00 GMT+10, Australia/Sydney)'],
    [winter, 'Asia/Tokyo', '2026-01-15T21:00:00+09:00 (Thursday, 15 January 2026, 21:00:00 GMT+9, Asia/Tokyo)'],
    [winter, 'Asia/Kolkata', '2026-01-15T17:30:00+05:30 (Thursday, 15 January 2026, 17:30:00 GMT+5:30, Asia/Kolkata)'],
    [winter, 'Asia/Kathmandu', '2026-01-15T17:45:00+05:45 (Thursday, 15 January 2026, 17:45:00 GMT+5:45, Asia/Kathmandu)'],
    // Across the date line, on a different day.
    [winter, 'Pacific/Kiritimati', '2026-01-16T02:00:00+14:00 (Friday, 16 January 2026, 02:00:00 GMT+14, Pacific/Kiritimati)'],
    [winter, 'Pacific/Pago_Pago', '2026-01-15T01:00:00-11:00 (Thursday, 15 January 2026, 01:00:00 GMT-11, Pacific/Pago_Pago)'],
  ])('%s in %s', (instant, zone, expected) => {
    expect(describeInstant(instant, zone)).toBe(expected);
  });

  it.each([
    // Paris springs forward at 01:00 UTC on the last Sunday of March.
    ['2026-03-29T00:59:59Z', 'Europe/Paris', '2026-03-29T01:59:59+01:00', 'CET'],
    ['2026-03-29T01:00:00Z', 'Europe/Paris', '2026-03-29T03:00:00+02:00', 'CEST'],
    // ...and falls back at 01:00 UTC on the last Sunday of October: 02:59:59 local happens twice.
    ['2026-10-25T00:59:59Z', 'Europe/Paris', '2026-10-25T02:59:59+02:00', 'CEST'],
    ['2026-10-25T01:59:59Z', 'Europe/Paris', '2026-10-25T02:59:59+01:00', 'CET'],
    // New York springs forward at 02:00 local (07:00 UTC) on the second Sunday of March.
    ['2026-03-08T06:59:59Z', 'America/New_York', '2026-03-08T01:59:59-05:00', 'EST'],
    ['2026-03-08T07:00:00Z', 'America/New_York', '2026-03-08T03:00:00-04:00', 'EDT'],
  ])('across a DST change: %s in %s', (instant, zone, iso, abbreviation) => {
    const text = describeInstant(new Date(instant), zone);
    expect(text.startsWith(`${iso} (`)).toBe(true);
    expect(text).toContain(` ${abbreviation}, ${zone})`);
  });

  it('writes midnight as 00, not 24', () => {
    expect(describeInstant(new Date('2026-02-28T23:00:00Z'), 'Europe/Berlin')).toBe(
      '2026-03-01T00:00:00+01:00 (Sunday, 1 March 2026, 00:00:00 CET, Europe/Berlin)',
    );
  });

  it('drops milliseconds', () => {
    expect(describeInstant(new Date('2026-01-15T12:00:00.999Z'), 'UTC')).toMatch(/^2026-01-15T12:00:00\+00:00 /);
  });

  it('corrects the case of a zone name, but keeps an alias as asked', () => {
    expect(describeInstant(winter, 'europe/paris')).toMatch(/, Europe\/Paris\)$/);
    expect(describeInstant(winter, 'Asia/Calcutta')).toMatch(/^2026-01-15T17:30:00\+05:30 .*, Asia\/Calcutta\)$/);
  });

  it.each(['Mars/Olympus_Mons', 'Europe/Pariss', '', 'GMT+25'])('rejects the unknown zone %j, naming it', (zone) => {
    expect(() => describeInstant(winter, zone)).toThrow(`Unknown time zone "${zone}"`);
  });
});

describe('current_time tool', () => {
  const now = () => new Date('2026-11-24T11:34:56Z');
  const executor = new ToolExecutor([currentTimeTool({ now })]);
  const run = (input: Record<string, unknown>) =>
    executor.execute({ id: 't1', name: 'current_time', input }, context());

  it('defaults to UTC', async () => {
    expect(await run({})).toMatchObject({
      isError: false,
      content: '2026-11-24T11:34:56+00:00 (Tuesday, 24 November 2026, 11:34:56 UTC, UTC)',
    });
  });

  it('answers in the zone asked for', async () => {
    expect((await run({ time_zone: 'Europe/Paris' })).content).toBe(
      '2026-11-24T12:34:56+01:00 (Tuesday, 24 November 2026, 12:34:56 CET, Europe/Paris)',
    );
  });

  it('reads the clock on every call', async () => {
    let tick = Date.parse('2026-01-01T00:00:00Z');
    const ticking = new ToolExecutor([currentTimeTool({ now: () => new Date((tick += 1000)) })]);
    const call = { id: 't1', name: 'current_time', input: {} };
    expect((await ticking.execute(call, context())).content).toMatch(/T00:00:01/);
    expect((await ticking.execute(call, context())).content).toMatch(/T00:00:02/);
  });

  it('reports an unknown zone as an error the model can act on', async () => {
    const outcome = await run({ time_zone: 'Atlantis/Central' });
    expect(outcome.isError).toBe(true);
    expect(outcome.content).toContain('Unknown time zone "Atlantis/Central"');
    expect(outcome.content).toContain('IANA');
  });

  it('rejects a zone that is not a string, and unknown fields', async () => {
    expect((await run({ time_zone: 1 })).content).toContain('input.time_zone: must be string');
    expect((await run({ zone: 'UTC' })).content).toContain('input.zone: is not an allowed property');
  });
});
