import { shieldErrorCode } from '../../core/errors.js';
import { resolveCacheOptions } from './cache.options.js';

describe('resolveCacheOptions', () => {
  it('applies the documented defaults', () => {
    expect(resolveCacheOptions({})).toEqual({
      enabled: true,
      ttlProfiles: { default: 300 },
      cacheAllGet: false,
      keyVersion: '1',
      maxEntryBytes: 1_048_576,
      compressAboveBytes: 1024,
      honorRequestCacheControl: 'per-user',
      vary: [],
      storeHeaders: [],
      maxVariants: 1000,
      keyByHost: true,
      identityParts: undefined,
      followerTimeoutMs: 5000,
      maxPatternLength: 256,
      maxPatternStars: 16,
      userId: undefined,
      l1: { maxBytes: 33_554_432, perUser: false, maxAgeWithoutBusMs: undefined },
      fastPath: true,
    });
  });

  it("answers hits before Nest's pipeline by default; fastPath: false turns it off; refuses a non-boolean", () => {
    expect(resolveCacheOptions({ fastPath: false }).fastPath).toBe(false);
    expect(() => resolveCacheOptions({ fastPath: 'no' as unknown as boolean })).toThrow(/fastPath/);
  });

  it('takes the deprecated maxQueryVariants as maxVariants', () => {
    expect(resolveCacheOptions({ maxQueryVariants: 7 }).maxVariants).toBe(7);
    expect(resolveCacheOptions({ maxQueryVariants: 7, maxVariants: 9 }).maxVariants).toBe(9);
  });

  it('lower-cases header names and merges TTL profiles over the default', () => {
    const resolved = resolveCacheOptions({ vary: ['Accept-Language'], ttlProfiles: { models: 3600 } });
    expect(resolved.vary).toEqual(['accept-language']);
    expect(resolved.ttlProfiles).toEqual({ default: 300, models: 3600 });
  });

  it('takes the pattern caps', () => {
    expect(resolveCacheOptions({ maxPatternLength: 1024, maxPatternStars: 4 })).toMatchObject({
      maxPatternLength: 1024,
      maxPatternStars: 4,
    });
  });

  it.each([
    [{ ttlProfiles: { models: 0 } }, /ttlProfiles.models=0/],
    [{ maxEntryBytes: -1 }, /maxEntryBytes=-1/],
    [{ honorRequestCacheControl: 'sometimes' as never }, /honorRequestCacheControl="sometimes"/],
    [{ keyVersion: 'v 1' }, /keyVersion="v 1"/],
    [{ maxPatternLength: 0 }, /maxPatternLength=0: expected a positive integer/],
    [{ maxPatternLength: 2.5 }, /maxPatternLength=2.5: expected a positive integer/],
    [{ maxPatternStars: -1 }, /maxPatternStars=-1: expected a positive integer/],
    [{ maxPatternStars: Number.NaN }, /maxPatternStars=NaN: expected a positive integer/],
    [{ maxPatternStars: '16' as never }, /maxPatternStars="16": expected a positive integer/],
  ])('refuses %j', (options, message) => {
    expect(() => resolveCacheOptions(options)).toThrow(message);
  });

  it.each([
    [{ ttlProfiles: { models: 0 } }, 'ttlProfiles.models=0: expected a positive number of seconds'],
    [{ compressAboveBytes: Number.NaN }, 'compressAboveBytes=NaN: expected a positive number of bytes'],
    [{ followerTimeoutMs: -5 }, 'followerTimeoutMs=-5: expected a positive number of ms'],
    [{ maxVariants: '10' as never }, 'maxVariants="10": expected a positive number'],
    [
      { honorRequestCacheControl: 'sometimes' as never },
      'honorRequestCacheControl="sometimes": expected never, per-user or always',
    ],
    [{ keyVersion: '' }, 'keyVersion="": expected 1-32 of A-Z a-z 0-9 . _ -'],
  ])('refuses %j with SHIELD_E001, naming the option, the value and what is allowed', (options, message) => {
    let error: unknown;
    try {
      resolveCacheOptions(options);
    } catch (caught) {
      error = caught;
    }
    expect((error as Error).message).toBe(`nestjs-redis-shield: invalid option ${message}`);
    expect(shieldErrorCode(error)).toBe('SHIELD_E001');
  });
});

describe('resolveCacheOptions: l1', () => {
  it('is on by default with 32 MiB for shared entries; maxBytes 0 turns it off', () => {
    const defaults = { maxBytes: 33_554_432, perUser: false, maxAgeWithoutBusMs: undefined };
    expect(resolveCacheOptions({}).l1).toEqual(defaults);
    expect(resolveCacheOptions({ l1: {} }).l1).toEqual(defaults);
    expect(resolveCacheOptions({ l1: { perUser: true } }).l1).toEqual({ ...defaults, perUser: true });
    expect(resolveCacheOptions({ l1: { maxBytes: 1024 } }).l1).toEqual({
      maxBytes: 1024,
      perUser: false,
      maxAgeWithoutBusMs: undefined,
    });
    expect(resolveCacheOptions({ l1: { maxBytes: 0, perUser: true, maxAgeWithoutBusMs: 250 } }).l1).toEqual({
      maxBytes: 0,
      perUser: true,
      maxAgeWithoutBusMs: 250,
    });
  });

  it.each([
    [{ maxBytes: -1 }, 'l1.maxBytes'],
    [{ maxBytes: 1.5 }, 'l1.maxBytes'],
    [{ maxBytes: 10, perUser: 'yes' as unknown as boolean }, 'l1.perUser'],
    [{ maxBytes: 10, maxAgeWithoutBusMs: 0 }, 'l1.maxAgeWithoutBusMs'],
  ])('refuses %j naming %s (SHIELD_E001)', (l1, option) => {
    let caught: unknown;
    try {
      resolveCacheOptions({ l1 });
    } catch (error) {
      caught = error;
    }
    expect(String(caught)).toContain(option);
    expect(shieldErrorCode(caught)).toBe('SHIELD_E001');
  });
});
