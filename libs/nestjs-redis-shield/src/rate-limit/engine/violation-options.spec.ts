import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { parseSince, ViolationsQuery } from '../../system-api/nest/system-api.dto.js';
import { resolveViolationOptions } from './rate-limit.options.js';
import type { ViolationOptions } from './violation.js';

describe('resolveViolationOptions', () => {
  const DEFAULTS = {
    stream: true,
    maxLength: 10_000,
    flushIntervalMs: 1000,
    maxBuffered: 10_000,
    sampleRate: 1,
    log: { lines: 5, intervalMs: 10_000 },
  };

  it('applies the documented defaults', () => {
    expect(resolveViolationOptions()).toEqual(DEFAULTS);
    expect(resolveViolationOptions({})).toEqual(DEFAULTS);
  });

  it('keeps what is given and fills the rest of log from the defaults', () => {
    expect(
      resolveViolationOptions({
        stream: false,
        maxLength: 50,
        flushIntervalMs: 250,
        maxBuffered: 20,
        sampleRate: 0.1,
        log: { lines: 0 },
      }),
    ).toEqual({
      stream: false,
      maxLength: 50,
      flushIntervalMs: 250,
      maxBuffered: 20,
      sampleRate: 0.1,
      log: { lines: 0, intervalMs: 10_000 },
    });
    expect(resolveViolationOptions({ log: { intervalMs: 500 } }).log).toEqual({ lines: 5, intervalMs: 500 });
  });

  it('turns the log off with log: false, without validating log settings', () => {
    expect(resolveViolationOptions({ log: false }).log).toBe(false);
  });

  it('accepts sampleRate 1 and the smallest positive rates', () => {
    expect(resolveViolationOptions({ sampleRate: 1 }).sampleRate).toBe(1);
    expect(resolveViolationOptions({ sampleRate: Number.MIN_VALUE }).sampleRate).toBe(Number.MIN_VALUE);
  });

  it.each<[ViolationOptions, string]>([
    [{ maxLength: 0 }, 'invalid option violations.maxLength=0: expected a positive integer'],
    [{ maxLength: -5 }, 'invalid option violations.maxLength=-5: expected a positive integer'],
    [{ maxLength: 1.5 }, 'invalid option violations.maxLength=1.5: expected a positive integer'],
    [{ maxLength: Infinity }, 'invalid option violations.maxLength=Infinity: expected a positive integer'],
    [{ flushIntervalMs: 0 }, 'invalid option violations.flushIntervalMs=0: expected a positive integer'],
    [{ flushIntervalMs: NaN }, 'invalid option violations.flushIntervalMs=NaN: expected a positive integer'],
    [{ maxBuffered: 0 }, 'invalid option violations.maxBuffered=0: expected a positive integer'],
    [{ maxBuffered: '10' as never }, 'invalid option violations.maxBuffered="10": expected a positive integer'],
    [{ log: { intervalMs: 0 } }, 'invalid option violations.log.intervalMs=0: expected a positive integer'],
    [{ log: { intervalMs: 99.5 } }, 'invalid option violations.log.intervalMs=99.5: expected a positive integer'],
    [{ log: { lines: -1 } }, 'invalid option violations.log.lines=-1: expected an integer >= 0'],
    [{ log: { lines: 2.5 } }, 'invalid option violations.log.lines=2.5: expected an integer >= 0'],
    [{ sampleRate: 0 }, 'invalid option violations.sampleRate=0: expected a number in (0, 1]'],
    [{ sampleRate: -0.5 }, 'invalid option violations.sampleRate=-0.5: expected a number in (0, 1]'],
    [{ sampleRate: 1.01 }, 'invalid option violations.sampleRate=1.01: expected a number in (0, 1]'],
    [{ sampleRate: NaN }, 'invalid option violations.sampleRate=NaN: expected a number in (0, 1]'],
  ])('refuses %j, naming the option', (options, message) => {
    expect(() => resolveViolationOptions(options)).toThrow(`nestjs-redis-shield: ${message}`);
  });
});

describe('parseSince', () => {
  it('reads Unix milliseconds', () => {
    expect(parseSince('0')).toBe(0);
    expect(parseSince('1795780800000')).toBe(1_795_780_800_000);
  });

  it.each([
    ['2026-11-27', Date.UTC(2026, 10, 27)],
    ['2026-11-27T12:00:00Z', Date.UTC(2026, 10, 27, 12)],
    ['2026-11-27T12:00Z', Date.UTC(2026, 10, 27, 12)],
    ['2026-11-27T12:00:00.123Z', Date.UTC(2026, 10, 27, 12, 0, 0, 123)],
    ['2026-11-27T12:00:00.5Z', Date.UTC(2026, 10, 27, 12, 0, 0, 500)],
    ['2026-11-27T12:00:00+02:00', Date.UTC(2026, 10, 27, 10)],
    ['2026-11-27T12:00:00-05:30', Date.UTC(2026, 10, 27, 17, 30)],
    ['2026-11-27T12:00:00.250+01:00', Date.UTC(2026, 10, 27, 11, 0, 0, 250)],
    // Without a zone, a date-time is UTC like a date alone (not the server's local time).
    ['2026-11-27T12:00', Date.UTC(2026, 10, 27, 12)],
    ['2026-11-27T12:00:30.5', Date.UTC(2026, 10, 27, 12, 0, 30, 500)],
    ['2024-02-29', Date.UTC(2024, 1, 29)],
  ])('reads the ISO-8601 time %s', (text, expected) => {
    expect(parseSince(text)).toBe(expected);
  });

  it.each([
    'yesterday',
    '2026-13-45T99:00:00Z',
    '',
    '1e12',
    '-1',
    '-1795780800000',
    '12.5',
    ' 1000',
    '2026-11-27 12:00',
    // Days that do not exist are refused, not rolled over into the next month.
    '2026-02-30',
    '2026-04-31T00:00:00Z',
    '2025-02-29',
  ])('refuses %j (NaN)', (text) => {
    expect(parseSince(text)).toBeNaN();
  });
});

describe('ViolationsQuery', () => {
  async function errorsOf(query: Record<string, unknown>) {
    const errors = await validate(plainToInstance(ViolationsQuery, query));
    return errors.map((error) => ({ property: error.property, messages: Object.values(error.constraints ?? {}) }));
  }

  it('accepts an empty query, Unix ms, ISO times and limits 1 to 1000', async () => {
    expect(await errorsOf({})).toEqual([]);
    expect(await errorsOf({ since: '1795780800000', limit: '1' })).toEqual([]);
    expect(await errorsOf({ since: '2026-11-27T12:00:00.123+01:00', limit: '1000' })).toEqual([]);
    expect(await errorsOf({ since: '2026-11-27' })).toEqual([]);
  });

  it('converts limit to a number', () => {
    expect(plainToInstance(ViolationsQuery, { limit: '50' }).limit).toBe(50);
  });

  it.each(['0', '1001', 'ten', '2.5', '-3'])('refuses limit=%j', async (limit) => {
    const errors = await errorsOf({ limit });
    expect(errors.map((error) => error.property)).toEqual(['limit']);
  });

  it.each(['x', 'yesterday', '2026-13-45T99:00:00Z', '1e12', ''])(
    'refuses since=%j with a message naming since',
    async (since) => {
      const errors = await errorsOf({ since });
      expect(errors).toEqual([
        { property: 'since', messages: ['since must be Unix milliseconds or an ISO-8601 time'] },
      ]);
    },
  );

  it('refuses a since that is not a string', async () => {
    const errors = await errorsOf({ since: 1_795_780_800_000 });
    expect(errors.map((error) => error.property)).toEqual(['since']);
  });
});
