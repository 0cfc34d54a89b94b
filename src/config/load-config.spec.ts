import { MAX_TIER_LIMIT } from 'nestjs-redis-shield';
import { PRO_MULTIPLIER, rateLimitOptionErrors, rateLimitOptions } from '../rate-limit.config.js';
import {
  DEV_IP_HASH_SECRET,
  DEV_JWT_SECRET,
  loadConfig,
  MAX_RATE_LIMIT,
  type AppConfig,
  type ConfigResult,
} from './load-config.js';

const STRONG = 'x'.repeat(40);
const LIMIT_RANGE =
  'an integer between 1 and 100000000 (the pro plan gets 10 times it, and a limit is at most 1000000000 per window)';

function ok(result: ConfigResult): AppConfig {
  if (!result.ok) throw new Error(`expected a valid config, got:\n${result.errors.join('\n')}`);
  return result.config;
}

function errorsOf(env: Record<string, string>): string[] {
  const result = loadConfig(env);
  if (result.ok) throw new Error('expected config errors');
  return result.errors;
}

describe('loadConfig', () => {
  it('applies the documented defaults to an empty environment', () => {
    const result = loadConfig({});
    const config = ok(result);
    expect(config).toEqual({
      production: false,
      port: 3000,
      redis: { url: 'redis://localhost:6379', keyPrefix: '', commandTimeoutMs: 100 },
      rateLimit: {
        perMinute: 60,
        perHour: 1000,
        burst: 10,
        burstWindowSeconds: 10,
        algorithm: 'sliding-window',
        failMode: 'open',
        authFailuresPerMinute: 10,
        completionsConcurrency: 4,
        completionsLeaseMs: 60_000,
      },
      ipHashSecret: DEV_IP_HASH_SECRET,
      trustProxy: false,
      cache: {
        enabled: true,
        ttlSeconds: { default: 300, models: 3600, analytics: 60 },
        modelsStaleSeconds: { whileRevalidate: 600, ifError: 86_400 },
        maxEntryBytes: 1_048_576,
        keyVersion: '1',
        l1MaxBytes: 33_554_432,
      },
      jwtSecret: DEV_JWT_SECRET,
      completionDelayMs: 0,
    });
    expect(result.ok && result.warnings).toEqual([
      expect.stringContaining('IP_HASH_SECRET is not set'),
      expect.stringContaining('JWT_SECRET is not set'),
    ]);
  });

  it('reads every variable', () => {
    const config = ok(
      loadConfig({
        REDIS_URL: 'rediss://user:pw@redis.internal:6380/2',
        REDIS_KEY_PREFIX: 'app1:',
        REDIS_COMMAND_TIMEOUT_MS: '250',
        RATE_LIMIT_PER_MINUTE: '30',
        RATE_LIMIT_PER_HOUR: '500',
        RATE_LIMIT_BURST: '5',
        RATE_LIMIT_BURST_WINDOW_SECONDS: '3',
        RATE_LIMIT_ALGORITHM: 'gcra',
        RATE_LIMIT_FAIL_MODE: 'closed',
        AUTH_FAILURES_PER_MINUTE: '25',
        COMPLETIONS_CONCURRENCY: '2',
        COMPLETIONS_LEASE_MS: '5000',
        COMPLETION_DELAY_MS: '1500',
        IP_HASH_SECRET: STRONG,
        TRUST_PROXY: '10.0.0.0/8, loopback,::1',
        CACHE_ENABLED: 'false',
        CACHE_TTL_DEFAULT: '10',
        CACHE_TTL_MODELS: '20',
        CACHE_TTL_ANALYTICS: '30',
        CACHE_STALE_WHILE_REVALIDATE_MODELS: '0',
        CACHE_STALE_IF_ERROR_MODELS: '120',
        CACHE_MAX_ENTRY_BYTES: '2048',
        CACHE_KEY_VERSION: '2024-06.b',
        CACHE_L1_MAX_BYTES: '0',
        PORT: '8080',
        JWT_SECRET: STRONG,
      }),
    );
    expect(config.redis).toEqual({
      url: 'rediss://user:pw@redis.internal:6380/2',
      keyPrefix: 'app1:',
      commandTimeoutMs: 250,
    });
    expect(config.rateLimit).toEqual({
      perMinute: 30,
      perHour: 500,
      burst: 5,
      burstWindowSeconds: 3,
      algorithm: 'gcra',
      failMode: 'closed',
      authFailuresPerMinute: 25,
      completionsConcurrency: 2,
      completionsLeaseMs: 5000,
    });
    expect(config.completionDelayMs).toBe(1500);
    expect(config.trustProxy).toEqual(['10.0.0.0/8', 'loopback', '::1']);
    expect(config.cache).toEqual({
      enabled: false,
      ttlSeconds: { default: 10, models: 20, analytics: 30 },
      modelsStaleSeconds: { whileRevalidate: 0, ifError: 120 },
      maxEntryBytes: 2048,
      keyVersion: '2024-06.b',
      l1MaxBytes: 0,
    });
    expect(config.port).toBe(8080);
  });

  it.each([
    ['false', false],
    ['FALSE', false],
    ['0', false],
    ['no', false],
    ['off', false],
    ['true', true],
    ['1', true],
    ['Yes', true],
    ['on', true],
  ])('parses CACHE_ENABLED=%s explicitly as %s', (raw, expected) => {
    expect(ok(loadConfig({ CACHE_ENABLED: raw })).cache.enabled).toBe(expected);
  });

  it.each([
    ['true', true],
    ['false', false],
    ['2', 2],
    ['loopback', ['loopback']],
    ['192.168.0.1,fd00::/8', ['192.168.0.1', 'fd00::/8']],
  ])('parses TRUST_PROXY=%s', (raw, expected) => {
    expect(ok(loadConfig({ TRUST_PROXY: raw })).trustProxy).toEqual(expected);
  });

  it('accepts large limits whose pro plan (10 ×) the library takes (issue "Hold up in operation" item 1)', () => {
    const env = { RATE_LIMIT_PER_MINUTE: '100000000', RATE_LIMIT_PER_HOUR: '1000000', RATE_LIMIT_BURST: '100000000' };
    const config = ok(loadConfig(env));
    expect(config.rateLimit).toMatchObject({ perMinute: 100_000_000, perHour: 1_000_000, burst: 100_000_000 });
    expect(MAX_RATE_LIMIT * PRO_MULTIPLIER).toBe(MAX_TIER_LIMIT);
    expect(rateLimitOptions(config).policies!['default@pro'].tiers.hour.limit).toBe(10_000_000);
    // The library takes every policy built from it (main.ts checks this before Nest starts).
    expect(rateLimitOptionErrors(config)).toEqual([]);
  });

  it('leaves main.ts one line per policy the library would refuse, should a plan go out of range', () => {
    // Past loadConfig's bounds (a config built by hand): the pro hour tier would be 10^10.
    const config = ok(loadConfig({}));
    const errors = rateLimitOptionErrors({ ...config, rateLimit: { ...config.rateLimit, perHour: 1_000_000_000 } });
    expect(errors).toEqual([
      'nestjs-redis-shield: invalid option policies.default@pro.tiers.hour.limit=10000000000: ' +
        'expected a positive integer, at most 1000000000 (units per window)',
    ]);
  });

  it('treats an empty variable as unset', () => {
    expect(ok(loadConfig({ PORT: '', CACHE_ENABLED: '' }))).toMatchObject({ port: 3000, cache: { enabled: true } });
  });

  it.each([
    ['RATE_LIMIT_PER_MINUTE', 'abc', 'an integer between 1 and 100000000'],
    ['RATE_LIMIT_PER_MINUTE', '1.5', 'an integer between 1 and 100000000'],
    ['RATE_LIMIT_PER_HOUR', '0', 'an integer between 1 and 100000000'],
    ['RATE_LIMIT_BURST', '1e3', 'an integer between 1 and 100000000'],
    // The pro plan (10 ×) would be above the library's 10^9 per window.
    ['RATE_LIMIT_PER_HOUR', '100000001', LIMIT_RANGE],
    ['RATE_LIMIT_PER_MINUTE', '1000000000', LIMIT_RANGE],
    ['RATE_LIMIT_BURST', '9007199254740993', LIMIT_RANGE],
    ['CACHE_TTL_DEFAULT', '-1', 'an integer between 1 and'],
    ['CACHE_TTL_MODELS', 'soon', 'an integer between 1 and'],
    ['RATE_LIMIT_ALGORITHM', 'bogus', 'one of sliding-window, fixed-window, token-bucket, gcra'],
    ['RATE_LIMIT_FAIL_MODE', 'maybe', 'one of open, closed'],
    ['REDIS_URL', 'not a url', 'a redis:// or rediss:// URL'],
    ['REDIS_URL', 'http://localhost:6379', 'a redis:// or rediss:// URL'],
    ['REDIS_URL', 'redis://localhost:6379/x', 'a database number'],
    ['REDIS_KEY_PREFIX', 'a{b', 'no { or }'],
    ['REDIS_KEY_PREFIX', 'a}b', 'no { or }'],
    ['REDIS_COMMAND_TIMEOUT_MS', '0', 'an integer between 1 and 60000'],
    ['REDIS_SENTINELS', 'host-without-port', 'a comma-separated list of host:port'],
    ['REDIS_CLUSTER_NODES', 'a:1,b:99999', 'a comma-separated list of host:port'],
    ['CACHE_ENABLED', 'nope', 'a boolean'],
    ['CACHE_KEY_VERSION', 'v 2', '1-32 characters'],
    ['CACHE_L1_MAX_BYTES', '-1', 'an integer between 0 and 4294967296'],
    ['CACHE_L1_MAX_BYTES', '32MiB', 'an integer between 0 and 4294967296'],
    ['TRUST_PROXY', '10.0.0.0/33', 'false, true, a hop count'],
    ['TRUST_PROXY', 'proxy.example', 'false, true, a hop count'],
    ['PORT', '70000', 'an integer between 0 and 65535'],
  ])('rejects %s=%j with one line naming it, the value and the expectation', (name, value, expected) => {
    const errors = errorsOf({ [name]: value });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBe(
      `Invalid config: ${name}=${JSON.stringify(value)}: expected ${errors[0].split(': expected ')[1]}`,
    );
    expect(errors[0]).toContain(`: expected ${expected}`);
  });

  it('reports every bad variable, one line each', () => {
    const errors = errorsOf({ RATE_LIMIT_PER_MINUTE: 'abc', CACHE_TTL_DEFAULT: '-1', RATE_LIMIT_ALGORITHM: 'bogus' });
    expect(errors.map((line) => line.split('=')[0])).toEqual([
      'Invalid config: RATE_LIMIT_PER_MINUTE',
      'Invalid config: RATE_LIMIT_ALGORITHM',
      'Invalid config: CACHE_TTL_DEFAULT',
    ]);
  });

  describe('Redis topology', () => {
    it('reads Sentinel and Cluster nodes', () => {
      expect(
        ok(loadConfig({ REDIS_SENTINELS: 's1:26379, [::1]:26380', REDIS_SENTINEL_NAME: 'mymaster' })).redis,
      ).toMatchObject({
        sentinels: [
          { host: 's1', port: 26379 },
          { host: '::1', port: 26380 },
        ],
        sentinelName: 'mymaster',
      });
      expect(ok(loadConfig({ REDIS_CLUSTER_NODES: 'n1:7000,n2:7001' })).redis.clusterNodes).toEqual([
        { host: 'n1', port: 7000 },
        { host: 'n2', port: 7001 },
      ]);
    });

    it('rejects Sentinel and Cluster together', () => {
      expect(errorsOf({ REDIS_SENTINELS: 's:1', REDIS_SENTINEL_NAME: 'm', REDIS_CLUSTER_NODES: 'n:2' })).toEqual([
        'Invalid config: REDIS_CLUSTER_NODES="n:2": expected to be unset when REDIS_SENTINELS is set',
      ]);
    });

    it('rejects a database other than 0 with Cluster, hiding the password', () => {
      expect(errorsOf({ REDIS_URL: 'redis://:hunter2@h:6379/3', REDIS_CLUSTER_NODES: 'n:2' })).toEqual([
        'Invalid config: REDIS_URL="redis://:***@h:6379/3": expected database 0 when REDIS_CLUSTER_NODES is set',
      ]);
    });

    it('requires the Sentinel master name with the sentinels, and the reverse', () => {
      expect(errorsOf({ REDIS_SENTINELS: 's:1' })).toEqual([
        'Invalid config: REDIS_SENTINEL_NAME="": expected the master name when REDIS_SENTINELS is set',
      ]);
      expect(errorsOf({ REDIS_SENTINEL_NAME: 'm' })[0]).toMatch(/^Invalid config: REDIS_SENTINELS="": expected/);
    });

    it('never echoes a password from an unparseable URL', () => {
      const [line] = errorsOf({ REDIS_URL: 'redis://u:hunter2@ho st:1' });
      expect(line).not.toContain('hunter2');
    });
  });

  describe('production secrets', () => {
    it('refuses missing secrets when NODE_ENV=production', () => {
      const errors = errorsOf({ NODE_ENV: 'production' });
      expect(errors).toEqual([
        expect.stringMatching(/^Invalid config: IP_HASH_SECRET="": expected a secret of at least 32 characters/),
        expect.stringMatching(/^Invalid config: JWT_SECRET="": expected a secret of at least 32 characters/),
      ]);
    });

    it('refuses the development values and short secrets, without echoing a real secret', () => {
      const errors = errorsOf({
        NODE_ENV: 'production',
        IP_HASH_SECRET: DEV_IP_HASH_SECRET,
        JWT_SECRET: 'short-secret',
      });
      expect(errors[0]).toContain(`IP_HASH_SECRET="${DEV_IP_HASH_SECRET}"`);
      expect(errors[1]).toContain('JWT_SECRET="<redacted, 12 characters>"');
      expect(errors.join('\n')).not.toContain('short-secret');
    });

    it('accepts strong secrets in production without warnings', () => {
      const result = loadConfig({ NODE_ENV: 'production', IP_HASH_SECRET: STRONG, JWT_SECRET: `${STRONG}!` });
      expect(result).toMatchObject({ ok: true, warnings: [] });
      expect(ok(result)).toMatchObject({ production: true, ipHashSecret: STRONG, jwtSecret: `${STRONG}!` });
    });
  });
});
