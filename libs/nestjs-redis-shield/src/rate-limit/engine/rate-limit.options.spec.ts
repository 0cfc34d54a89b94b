import { shieldErrorCode } from '../../core/errors.js';
import { IpAllowlist, normalizeIp } from './client-id.js';
import { buildRegistry, type RateLimitModuleOptions, resolveViolationOptions } from './rate-limit.options.js';

/** What `fn` threw: its message and code. */
function thrown(fn: () => unknown): { message: string; code: string | undefined } {
  try {
    fn();
  } catch (error) {
    return { message: (error as Error).message, code: shieldErrorCode(error) };
  }
  throw new Error('nothing was thrown');
}

describe('buildRegistry option errors', () => {
  it.each<[string, RateLimitModuleOptions, string]>([
    ['failMode', { failMode: 'half' as never }, 'failMode="half": expected open or closed'],
    ['failMode null', { failMode: null as never }, 'failMode=null: expected open or closed'],
    [
      'localBlockCache.maxEntries',
      { localBlockCache: { maxEntries: 0 } },
      'localBlockCache.maxEntries=0: expected a positive integer',
    ],
    ['fallbackMaxClients', { fallbackMaxClients: 2.5 }, 'fallbackMaxClients=2.5: expected a positive integer'],
    [
      'fallbackMaxClients NaN',
      { fallbackMaxClients: Number.NaN },
      'fallbackMaxClients=NaN: expected a positive integer',
    ],
    [
      'websocket.closeAfterRejections',
      { websocket: { closeAfterRejections: 0 } },
      'websocket.closeAfterRejections=0: expected a positive integer',
    ],
    ['ipv6Subnet', { ipv6Subnet: 129 }, 'ipv6Subnet=129: expected an integer from 1 to 128'],
    [
      'loadShedding.maxEventLoopDelayMs',
      { loadShedding: { maxEventLoopDelayMs: -5 } },
      'loadShedding.maxEventLoopDelayMs=-5: expected a positive number of ms',
    ],
    [
      'a concurrency tier among the default tiers',
      { defaultTiers: { inflight: { kind: 'concurrency', limit: 1.5 } } },
      'policies.default.tiers.inflight.limit=1.5: expected a positive integer',
    ],
    ['a tier limit', { defaultTiers: { t: { limit: 0, windowMs: 1000 } } }, 'policies.default.tiers.t.limit=0'],
    ['an algorithm', { algorithm: 'leaky' as never }, 'policies.default.algorithm="leaky": expected one of'],
    ['a policy name', { policies: { 'a b': { tiers: { t: { limit: 1, windowMs: 1000 } } } } }, 'policy name="a b"'],
  ])('refuses %s with SHIELD_E001, naming the option, the value and what is allowed', (_label, options, message) => {
    const error = thrown(() => buildRegistry(options));
    expect(error.message).toContain(`nestjs-redis-shield: invalid option ${message}`);
    expect(error.code).toBe('SHIELD_E001');
  });

  it('accepts what it accepted before: defaults, null maxEntries, localBlockCache false', () => {
    for (const options of [
      {},
      { localBlockCache: false as const },
      { localBlockCache: {} },
      { localBlockCache: { maxEntries: null as never } },
      { fallbackMaxClients: 1, failMode: 'closed' as const },
      { websocket: {} },
      { websocket: { closeAfterRejections: 3 } },
    ]) {
      expect(() => buildRegistry(options)).not.toThrow();
    }
  });

  it('refuses a shadow policy that is not one (E001) and an unknown one (E004)', () => {
    const policies = { p: { tiers: { t: { limit: 1, windowMs: 1000 } } } };
    expect(thrown(() => buildRegistry({ policies, shadowPolicies: ['p'] }))).toEqual({
      message: 'nestjs-redis-shield: invalid option shadowPolicies="p": expected policies defined with shadow: true',
      code: 'SHIELD_E001',
    });
    expect(thrown(() => buildRegistry({ policies, shadowPolicies: ['q'] }))).toEqual({
      message: "nestjs-redis-shield: unknown rate-limit policy 'q' (configured: default, p)",
      code: 'SHIELD_E004',
    });
  });
});

describe('client address option errors', () => {
  it('refuses a bad allowlist entry and ipv6Subnet when keying with SHIELD_E001', () => {
    expect(thrown(() => new IpAllowlist(['10.0.0.0/33']))).toEqual({
      message: 'nestjs-redis-shield: invalid option allowlist="10.0.0.0/33": expected an IP address or CIDR subnet',
      code: 'SHIELD_E001',
    });
    expect(thrown(() => normalizeIp('::1', { ipv6Subnet: 0 })).code).toBe('SHIELD_E001');
  });
});

describe('resolveViolationOptions option errors', () => {
  it.each([{ maxLength: 0 }, { log: { lines: -1 } }, { sampleRate: 2 }, { flushIntervalMs: 0.5 }])(
    'refuses %j with SHIELD_E001',
    (options) => {
      expect(thrown(() => resolveViolationOptions(options)).code).toBe('SHIELD_E001');
    },
  );
});
