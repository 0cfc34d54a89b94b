import { createHmac } from 'node:crypto';
import { parseList } from 'structured-headers';
import { buildPolicy } from './policy.js';
import {
  headerTemplate,
  partitionKeyOf,
  rateLimitHeaders,
  resetUnixSeconds,
  sfString,
  waitSeconds,
} from './rate-limit-headers.js';
import type { RateLimitResult, TierResult } from './rate-limit.types.js';

const NOW = 1_700_000_000_000;
const tier = (
  policy: string,
  name: string,
  limit: number,
  windowS: number,
  over: Partial<TierResult> = {},
): TierResult => ({
  policy,
  tier: name,
  limit,
  windowMs: windowS * 1000,
  shadow: false,
  allowed: true,
  remaining: limit - 1,
  resetMs: windowS * 500,
  retryAfterMs: 0,
  ...over,
});

function result(tiers: TierResult[], over: Partial<RateLimitResult> = {}): RateLimitResult {
  return {
    allowed: true,
    limit: 60,
    remaining: 45,
    resetMs: 30_000,
    retryAfterMs: 0,
    policy: 'default',
    tier: 'minute',
    nowMs: NOW,
    tiers,
    ...over,
  };
}

describe('rate-limit headers', () => {
  it('lists every tier in the draft-11 fields and the summary in X-RateLimit-*', () => {
    const headers = rateLimitHeaders(
      result([
        tier('default', 'minute', 60, 60, { remaining: 45, resetMs: 30_000 }),
        tier('default', 'hour', 1000, 3600, { remaining: 985, resetMs: 3_209_200 }),
        tier('default', 'burst', 10, 10, { remaining: 3, resetMs: 6_500 }),
      ]),
    );
    expect(headers).toEqual({
      'X-RateLimit-Limit': '60',
      'X-RateLimit-Remaining': '45',
      'X-RateLimit-Reset': String(Math.ceil((NOW + 30_000) / 1000)),
      'RateLimit-Policy': '"minute";q=60;w=60, "hour";q=1000;w=3600, "burst";q=10;w=10',
      RateLimit: '"minute";r=45;t=30, "hour";r=985;t=3210, "burst";r=3;t=7',
    });
  });

  it('prefixes tiers of later policies and leaves shadow tiers out', () => {
    const headers = rateLimitHeaders(
      result([
        tier('default', 'minute', 60, 60),
        tier('completions', 'minute', 10, 60),
        tier('trial', 'minute', 5, 60, { shadow: true }),
      ]),
    );
    expect(headers['RateLimit-Policy']).toBe('"minute";q=60;w=60, "completions.minute";q=10;w=60');
  });

  it('can be limited to one family, and is empty with only shadow tiers', () => {
    const tiers = [tier('default', 'minute', 60, 60)];
    expect(Object.keys(rateLimitHeaders(result(tiers), { draft: false }))).toEqual([
      'X-RateLimit-Limit',
      'X-RateLimit-Remaining',
      'X-RateLimit-Reset',
    ]);
    expect(Object.keys(rateLimitHeaders(result(tiers), { legacy: false }))).toEqual(['RateLimit-Policy', 'RateLimit']);
    expect(rateLimitHeaders(result([tier('t', 'minute', 5, 60, { shadow: true })]))).toEqual({});
  });

  it('never resets before the retry time on a rejection; waits are at least 1 s', () => {
    const rejected = result([], { allowed: false, resetMs: 2_000, retryAfterMs: 7_001 });
    expect(resetUnixSeconds(rejected)).toBe(Math.ceil((NOW + 7_001) / 1000));
    expect(waitSeconds(1)).toBe(1);
    expect(waitSeconds(0)).toBe(1);
    expect(waitSeconds(7_001)).toBe(8);
  });

  it('stays finite when a cost exceeds a limit (retryAfterMs Infinity): the tier reset stands in', () => {
    const refused = result(
      [
        tier('default', 'minute', 60, 60, { allowed: false, remaining: 45, resetMs: 30_000, retryAfterMs: Infinity }),
        tier('default', 'burst', 10, 10, { remaining: 3, resetMs: 6_500 }),
      ],
      { allowed: false, remaining: 45, resetMs: 30_000, retryAfterMs: Infinity, costExceedsLimit: true },
    );
    expect(rateLimitHeaders(refused)).toEqual({
      'X-RateLimit-Limit': '60',
      'X-RateLimit-Remaining': '45',
      'X-RateLimit-Reset': String(Math.ceil((NOW + 30_000) / 1000)),
      'RateLimit-Policy': '"minute";q=60;w=60, "burst";q=10;w=10',
      RateLimit: '"minute";r=45;t=30, "burst";r=3;t=7',
    });
    expect(resetUnixSeconds(refused)).toBe(Math.ceil((NOW + 30_000) / 1000));
    // "Never" in HTTP delta-seconds (RFC 9110 §1.2.2), not "Infinity" nor NaN.
    expect(waitSeconds(Infinity)).toBe(2 ** 31);
    expect(waitSeconds(Number.NaN)).toBe(2 ** 31);
  });

  it('gives the same headers from a prepared template as without one, shadow policies skipped', () => {
    const policies = [
      buildPolicy(
        'default',
        { tiers: { minute: { limit: 60, windowMs: 60_000 }, burst: { limit: 10, windowMs: 10_000 } } },
        'sliding-window',
      ),
      buildPolicy('trial', { shadow: true, tiers: { minute: { limit: 1, windowMs: 60_000 } } }, 'sliding-window'),
      buildPolicy('completions', { tiers: { minute: { limit: 10, windowMs: 60_000 } } }, 'sliding-window'),
    ];
    const decided = result(
      [
        tier('default', 'minute', 60, 60),
        tier('default', 'burst', 10, 10, { allowed: false, remaining: 0, retryAfterMs: 4_200 }),
        tier('trial', 'minute', 1, 60, { shadow: true, allowed: false }),
        tier('completions', 'minute', 10, 60),
      ],
      { allowed: false, retryAfterMs: 4_200 },
    );
    const template = headerTemplate(policies);
    expect(template.policy).toBe('"minute";q=60;w=60, "burst";q=10;w=10, "completions.minute";q=10;w=60');
    expect(rateLimitHeaders(decided, {}, template)).toEqual(rateLimitHeaders(decided));
  });

  it('gives a rejecting tier the retry time as its effective window, so Retry-After is never earlier (draft-11 §6)', () => {
    // Sliding window: the burst tier is full again in 9.5 s, but a retry passes it in 2.1 s.
    const rejected = result(
      [
        tier('default', 'minute', 60, 60, { remaining: 40, resetMs: 30_000 }),
        tier('default', 'burst', 10, 10, { allowed: false, remaining: 0, resetMs: 9_500, retryAfterMs: 2_100 }),
      ],
      { allowed: false, remaining: 0, resetMs: 9_500, retryAfterMs: 2_100, tier: 'burst' },
    );
    const headers = rateLimitHeaders(rejected);
    expect(headers.RateLimit).toBe('"minute";r=40;t=30, "burst";r=0;t=3');
    // Retry-After is waitSeconds(result.retryAfterMs): exactly the rejecting tier's t.
    expect(waitSeconds(rejected.retryAfterMs)).toBe(3);
    // X-RateLimit-Reset keeps its meaning: not before the retry time, the tier's reset.
    expect(headers['X-RateLimit-Reset']).toBe(String(Math.ceil((NOW + 9_500) / 1000)));
  });

  it('parses as RFC 9651 Lists of quoted names with Integer parameters, r within [0, q]', () => {
    // A custom store may answer a fraction or more than the limit; the fields stay well-formed.
    const odd = result([
      tier('default', 'minute', 60, 60, { remaining: 12.7, resetMs: 1_001 }),
      tier('default', 'hour', 1000, 3600, { remaining: 1200, resetMs: 0 }),
      tier('default', 'burst', 10, 0.5, { remaining: -2, resetMs: -5 }),
    ]);
    const headers = rateLimitHeaders(odd);
    const policy = parseList(headers['RateLimit-Policy']);
    const limits = parseList(headers.RateLimit);
    expect(policy.map(([name, params]) => [name, Object.fromEntries(params)])).toEqual([
      ['minute', { q: 60, w: 60 }],
      ['hour', { q: 1000, w: 3600 }],
      ['burst', { q: 10, w: 1 }],
    ]);
    expect(limits.map(([name, params]) => [name, Object.fromEntries(params)])).toEqual([
      ['minute', { r: 12, t: 2 }],
      ['hour', { r: 1000, t: 0 }],
      ['burst', { r: 0, t: 0 }],
    ]);
  });

  it('quotes names as RFC 9651 Strings, whatever a custom store calls its tiers', () => {
    expect(sfString('minute')).toBe('"minute"');
    expect(sfString('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(sfString('minüte\n')).toBe('"min?te?"');
    const headers = rateLimitHeaders(result([tier('default', 'ä"x', 5, 60)]));
    expect(parseList(headers.RateLimit)[0][0]).toBe('?"x');
    expect(parseList(headers['RateLimit-Policy'])[0][0]).toBe('?"x');
  });

  it('adds the partition key to every RateLimit item only when asked and known', () => {
    const hmac = createHmac('sha256', 'secret').update('partition:ip:203.0.113.7').digest('base64url').slice(0, 22);
    const pk = partitionKeyOf(hmac);
    expect(pk).toMatch(/^:[A-Za-z0-9+/]{16}:$/);
    expect(partitionKeyOf(hmac)).toBe(pk);
    const decided = result([tier('default', 'minute', 60, 60), tier('completions', 'minute', 10, 60)]);

    const limits = parseList(rateLimitHeaders(decided, { partitionKey: true }, undefined, pk).RateLimit);
    for (const [, params] of limits) {
      const bytes = params.get('pk');
      expect(bytes).toBeInstanceOf(ArrayBuffer);
      expect(Buffer.from(bytes as ArrayBuffer)).toEqual(Buffer.from(hmac, 'base64url').subarray(0, 12));
    }
    // The policy field stays the same for every client: no pk there.
    expect(rateLimitHeaders(decided, { partitionKey: true }, undefined, pk)['RateLimit-Policy']).not.toContain('pk=');
    // Off by default (22 bytes per tier), and never without a hashed key.
    expect(rateLimitHeaders(decided, {}, undefined, pk).RateLimit).not.toContain('pk=');
    expect(rateLimitHeaders(decided, { partitionKey: true }).RateLimit).not.toContain('pk=');
  });
});
