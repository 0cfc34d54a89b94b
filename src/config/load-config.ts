import { MAX_TIER_LIMIT } from 'nestjs-redis-shield';
import { PRO_MULTIPLIER } from '../rate-limit.config.js';
import {
  ExpectationError,
  type HostPort,
  type TrustProxy,
  parseBoolean,
  parseEnum,
  parseHostPortList,
  parseInteger,
  parseRedisUrl,
  parseTrustProxy,
  redisDatabase,
} from './env-parsers.js';

export const RATE_LIMIT_ALGORITHMS = ['sliding-window', 'fixed-window', 'token-bucket', 'gcra'] as const;
export type RateLimitAlgorithmName = (typeof RATE_LIMIT_ALGORITHMS)[number];
export const FAIL_MODES = ['open', 'closed'] as const;
export type FailMode = (typeof FAIL_MODES)[number];

/** Development-only secrets: accepted (with a warning) outside production, refused in it. */
export const DEV_IP_HASH_SECRET = 'dev-only-ip-hash-secret-change-me';
export const DEV_JWT_SECRET = 'dev-only-jwt-secret-change-me';
/** Minimum secret length in production: 32 bytes of key for HMAC-SHA-256 and HS256. */
export const MIN_PRODUCTION_SECRET_LENGTH = 32;

/** The library's default L1 size (32 MiB): the demo keeps it unless CACHE_L1_MAX_BYTES says otherwise. */
export const DEFAULT_L1_MAX_BYTES = 32 * 1024 * 1024;

/** The demo API's configuration, built from environment variables by {@link loadConfig}. */
export interface AppConfig {
  production: boolean;
  port: number;
  redis: {
    url: string;
    sentinels?: HostPort[];
    sentinelName?: string;
    clusterNodes?: HostPort[];
    keyPrefix: string;
    /** Per-request Redis deadline, in milliseconds. */
    commandTimeoutMs: number;
  };
  rateLimit: {
    perMinute: number;
    perHour: number;
    burst: number;
    burstWindowSeconds: number;
    algorithm: RateLimitAlgorithmName;
    failMode: FailMode;
    /** Failed authentications (invalid bearer tokens) per minute per client address before 429s. */
    authFailuresPerMinute: number;
    /** Completions of one client in flight at once (the `completions` policy's concurrency tier). */
    completionsConcurrency: number;
    /** How long a completion's slot is held at most, in ms (its lease). */
    completionsLeaseMs: number;
  };
  ipHashSecret: string;
  trustProxy: TrustProxy;
  cache: {
    enabled: boolean;
    /** TTL profiles, in seconds. */
    ttlSeconds: { default: number; models: number; analytics: number };
    /** After the `models` TTL: served stale while refreshed, and when the catalogue fails, for these many seconds. */
    modelsStaleSeconds: { whileRevalidate: number; ifError: number };
    maxEntryBytes: number;
    keyVersion: string;
    /** Bytes of each instance's in-process cache (L1) in front of Redis; 0 turns it off. */
    l1MaxBytes: number;
  };
  jwtSecret: string;
  /** How long a fake completion takes, in ms (a real one takes seconds: what the concurrency limit is for). */
  completionDelayMs: number;
}

/** Outcome of {@link loadConfig}: the config plus warnings, or one error line per bad variable. */
export type ConfigResult = { ok: true; config: AppConfig; warnings: string[] } | { ok: false; errors: string[] };

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The largest limit a `RATE_LIMIT_*` count may set: the `pro` plan gets {@link PRO_MULTIPLIER}
 * times it, and the library refuses a tier above {@link MAX_TIER_LIMIT} (10^9) per window.
 */
export const MAX_RATE_LIMIT = Math.floor(MAX_TIER_LIMIT / PRO_MULTIPLIER);

/**
 * Builds the demo's configuration from environment variables.
 *
 * Pure: reads only `env`, never exits or logs, so it runs before Nest starts and is
 * tested directly. An empty variable counts as unset. Every bad variable yields one
 * line `Invalid config: NAME="value": expected ...`; secrets are never echoed.
 */
export function loadConfig(env: Env): ConfigResult {
  const errors: string[] = [];
  const warnings: string[] = [];
  const production = env.NODE_ENV === 'production';

  function read<T>(name: string, fallback: T, parse: (raw: string) => T, display = (raw: string) => raw): T {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    try {
      return parse(raw);
    } catch (error) {
      if (!(error instanceof ExpectationError)) throw error;
      errors.push(invalid(name, display(raw), error.expected));
      return fallback;
    }
  }

  const redisUrlRaw = env.REDIS_URL || 'redis://localhost:6379';
  const redisUrl = read('REDIS_URL', new URL('redis://localhost:6379'), parseRedisUrl, redactUrl);
  const sentinels = read<HostPort[] | undefined>('REDIS_SENTINELS', undefined, parseHostPortList);
  const sentinelName = read<string | undefined>('REDIS_SENTINEL_NAME', undefined, (raw) => raw.trim());
  const clusterNodes = read<HostPort[] | undefined>('REDIS_CLUSTER_NODES', undefined, parseHostPortList);
  const keyPrefix = read('REDIS_KEY_PREFIX', '', parseKeyPrefix);

  if (sentinels && !sentinelName) {
    errors.push(invalid('REDIS_SENTINEL_NAME', '', 'the master name when REDIS_SENTINELS is set'));
  }
  if (sentinelName && !env.REDIS_SENTINELS) {
    errors.push(invalid('REDIS_SENTINELS', '', 'host:port,... of the sentinels when REDIS_SENTINEL_NAME is set'));
  }
  if (env.REDIS_CLUSTER_NODES && env.REDIS_SENTINELS) {
    errors.push(invalid('REDIS_CLUSTER_NODES', env.REDIS_CLUSTER_NODES, 'to be unset when REDIS_SENTINELS is set'));
  }
  if (clusterNodes && (redisDatabase(redisUrl) ?? 0) !== 0) {
    errors.push(invalid('REDIS_URL', redactUrl(redisUrlRaw), 'database 0 when REDIS_CLUSTER_NODES is set'));
  }

  const config: AppConfig = {
    production,
    port: read('PORT', 3000, (raw) => parseInteger(raw, 0, 65535)),
    redis: {
      url: redisUrl.toString(),
      ...(sentinels && { sentinels, sentinelName }),
      ...(clusterNodes && { clusterNodes }),
      keyPrefix,
      commandTimeoutMs: read('REDIS_COMMAND_TIMEOUT_MS', 100, (raw) => parseInteger(raw, 1, 60_000)),
    },
    rateLimit: {
      perMinute: read('RATE_LIMIT_PER_MINUTE', 60, parseLimit),
      perHour: read('RATE_LIMIT_PER_HOUR', 1000, parseLimit),
      burst: read('RATE_LIMIT_BURST', 10, parseLimit),
      burstWindowSeconds: read('RATE_LIMIT_BURST_WINDOW_SECONDS', 10, (raw) => parseInteger(raw, 1, 86_400)),
      algorithm: read('RATE_LIMIT_ALGORITHM', 'sliding-window', (raw) => parseEnum(raw, RATE_LIMIT_ALGORITHMS)),
      failMode: read('RATE_LIMIT_FAIL_MODE', 'open', (raw) => parseEnum(raw, FAIL_MODES)),
      authFailuresPerMinute: read('AUTH_FAILURES_PER_MINUTE', 10, (raw) => parseInteger(raw, 1, MAX_TIER_LIMIT)),
      completionsConcurrency: read('COMPLETIONS_CONCURRENCY', 4, (raw) => parseInteger(raw, 1, 10_000)),
      completionsLeaseMs: read('COMPLETIONS_LEASE_MS', 60_000, (raw) => parseInteger(raw, 1000, 86_400_000)),
    },
    ipHashSecret: readSecret('IP_HASH_SECRET', DEV_IP_HASH_SECRET),
    trustProxy: read('TRUST_PROXY', false, parseTrustProxy),
    cache: {
      enabled: read('CACHE_ENABLED', true, parseBoolean),
      ttlSeconds: {
        default: read('CACHE_TTL_DEFAULT', 300, parseTtl),
        models: read('CACHE_TTL_MODELS', 3600, parseTtl),
        analytics: read('CACHE_TTL_ANALYTICS', 60, parseTtl),
      },
      modelsStaleSeconds: {
        whileRevalidate: read('CACHE_STALE_WHILE_REVALIDATE_MODELS', 600, (raw) => parseInteger(raw, 0, 604_800)),
        ifError: read('CACHE_STALE_IF_ERROR_MODELS', 86_400, (raw) => parseInteger(raw, 0, 604_800)),
      },
      maxEntryBytes: read('CACHE_MAX_ENTRY_BYTES', 1_048_576, (raw) => parseInteger(raw, 1, 512 * 1024 * 1024)),
      keyVersion: read('CACHE_KEY_VERSION', '1', parseKeyVersion),
      // At most 4 GiB: more than a Node heap holds by default.
      l1MaxBytes: read('CACHE_L1_MAX_BYTES', DEFAULT_L1_MAX_BYTES, (raw) => parseInteger(raw, 0, 4 * 1024 ** 3)),
    },
    jwtSecret: readSecret('JWT_SECRET', DEV_JWT_SECRET),
    completionDelayMs: read('COMPLETION_DELAY_MS', 0, (raw) => parseInteger(raw, 0, 600_000)),
  };

  return errors.length > 0 ? { ok: false, errors } : { ok: true, config, warnings };

  /** Secrets: dev value with a warning outside production; required and strong in it. */
  function readSecret(name: string, devValue: string): string {
    const raw = env[name] ?? '';
    if (production) {
      const expected = `a secret of at least ${MIN_PRODUCTION_SECRET_LENGTH} characters, not the development value, when NODE_ENV=production`;
      if (raw === '' || raw === devValue || raw.length < MIN_PRODUCTION_SECRET_LENGTH) {
        errors.push(invalid(name, raw === devValue ? raw : redactSecret(raw), expected));
      }
      return raw;
    }
    if (raw === '' || raw === devValue) {
      warnings.push(`${name} is not set: using an insecure development value (refused when NODE_ENV=production)`);
      return devValue;
    }
    return raw;
  }
}

/** Formats one error line; the single place the `Invalid config:` shape is written. */
function invalid(name: string, value: string, expected: string): string {
  return `Invalid config: ${name}=${JSON.stringify(value)}: expected ${expected}`;
}

/** A per-window count whose `pro` plan (10 ×) the library still accepts; the error says why the bound. */
function parseLimit(raw: string): number {
  try {
    return parseInteger(raw, 1, MAX_RATE_LIMIT);
  } catch (error) {
    if (!(error instanceof ExpectationError)) throw error;
    throw new ExpectationError(
      `${error.expected} (the pro plan gets ${PRO_MULTIPLIER} times it, and a limit is at most ${MAX_TIER_LIMIT} per window)`,
    );
  }
}

function parseTtl(raw: string): number {
  return parseInteger(raw, 1, 365 * 86_400);
}

function parseKeyPrefix(raw: string): string {
  if (/[{}]/.test(raw)) throw new ExpectationError('no { or } (they would break Redis Cluster hash tags)');
  if (/[\s\p{Cc}]/u.test(raw) || raw.length > 64) {
    throw new ExpectationError('at most 64 characters without spaces or control characters');
  }
  return raw;
}

function parseKeyVersion(raw: string): string {
  if (!/^[A-Za-z0-9._-]{1,32}$/.test(raw)) throw new ExpectationError('1-32 characters of A-Z a-z 0-9 . _ -');
  return raw;
}

/** Never echo a secret: show only that it was set and its length. */
function redactSecret(raw: string): string {
  return raw === '' ? '' : `<redacted, ${raw.length} characters>`;
}

/** Hide the password of a Redis URL in error output (works on unparseable URLs too). */
function redactUrl(raw: string): string {
  return raw.replace(/(\/\/[^:@/]*:)[^@/]*@/, '$1***@');
}
