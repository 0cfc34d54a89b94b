import type { ExecutionContext } from '@nestjs/common';
import { shieldError } from '../../core/errors.js';
import { checkIntegerInRange, checkOneOf, checkPositiveInteger } from '../../core/validators.js';
import type { HttpExchange } from '../../core/http/http-facade.js';
import { ipv6SubnetOf } from './client-id.js';
import {
  DEFAULT_POLICY,
  type PolicyDefinition,
  PolicyRegistry,
  type PolicyTierDefinition,
  type TierDefinition,
  buildPolicy,
} from './policy.js';
import type { HeaderOptions } from './rate-limit-headers.js';
import { DEFAULT_ALGORITHM, type RateLimitAlgorithmName } from './algorithms/registry.js';
import type { RateLimitStore } from '../store/store.interface.js';
import type { ResolvedViolationOptions, ViolationOptions } from './violation.js';
import { type LoadSheddingOptions, resolveLoadShedding } from './load-shedding.js';

/** What Redis failure means for requests: `open` counts in memory per instance, `closed` answers 503. */
export type FailMode = 'open' | 'closed';

/** Every {@link FailMode}. */
const FAIL_MODES: readonly FailMode[] = ['open', 'closed'];

/** A value, or a function of the request that returns it (possibly async). */
export type Resolvable<T> = (context: ExecutionContext, exchange: HttpExchange) => T | Promise<T>;

/** Options of `RateLimitModule.forRoot`. */
export interface RateLimitModuleOptions {
  /** Algorithm of every tier that names none. Default `sliding-window`. */
  algorithm?: RateLimitAlgorithmName;
  /**
   * Tiers of the `default` policy. Default: `minute` 60 per 60 s, `hour` 1000 per
   * 3600 s, `burst` 10 per 10 s. May hold a concurrency tier (`{ kind: 'concurrency', limit }`).
   */
  defaultTiers?: Record<string, PolicyTierDefinition>;
  /**
   * Named policies, selected with `@RateLimit('name')` or by the service. A policy
   * named `<policy>@<plan>` replaces `<policy>` for clients of that plan (see `plan`).
   */
  policies?: Record<string, PolicyDefinition>;
  /** When Redis fails: `open` (default) counts in memory per instance; `closed` answers 503. */
  failMode?: FailMode;
  /**
   * Where the counters live instead of Redis: a {@link RateLimitStore} of your own (the
   * `storage` option of @nestjs/throttler). It decides every request the guard, the service
   * and the system API count; when it throws `RedisUnavailableError` or `RedisCommandError`
   * the fail mode applies as for Redis, and the local block cache works as usual. The module's
   * Redis connection still carries the violation stream, the instance bus and client-id
   * hashing. Default: the Redis store on the module's connection.
   */
  store?: RateLimitStore;
  /** Clients the in-memory fallback keeps (least recently seen dropped first). Default 100 000. */
  fallbackMaxClients?: number;
  /** Response headers: `false` sends none; or pick the families. Default: both. */
  headers?: boolean | HeaderOptions;
  /** Turns the guard into a no-op (tests, local development). */
  disabled?: boolean;
  /** Requests for which this returns true are not limited (and never reach Redis). */
  skip?: Resolvable<boolean>;
  /** IP addresses and CIDR subnets that are never limited. */
  allowlist?: string[];
  /** The cost of a request when its route sets none with `@RateLimitCost`. Default 1. */
  cost?: Resolvable<number>;
  /**
   * The client id of a request. Default: `user:<id>` when `request.user` has an id
   * (see `userId`), else `ip:<address>` (IPv6 carrying an IPv4 keyed as that IPv4, other
   * IPv6 by its `ipv6Subnet`; see `normalizeIp`). A result over 256 characters is
   * replaced by `sha256:<digest>` (see `boundedClientId`).
   */
  clientId?: Resolvable<string | undefined>;
  /**
   * Prefix length (bits, an integer from 1 to 128) by which anonymous IPv6 clients share
   * a bucket: one customer line usually owns a whole /64 (often a /56 or /48) and could
   * otherwise rotate addresses for fresh buckets. 128 keys each IPv6 address alone.
   * Default 64 (express-rate-limit v8 uses 56, which is stricter for home lines but puts
   * more unrelated hosting customers into one bucket). Applies to the guard's default
   * client id and to the admin reset of an IP address; never to IPv4 clients.
   */
  ipv6Subnet?: number;
  /**
   * The id of `request.user`. Default: its `id`, `sub` or `userId`. Keyed as `user:<id>`;
   * an id over 256 characters as `user:sha256:<digest>` (see `boundedClientId`).
   */
  userId?: (user: unknown) => string | undefined;
  /**
   * The client's plan (e.g. from `request.user.plan`). When a policy `<name>@<plan>` is
   * configured it replaces policy `<name>` for this request; anonymous clients can have
   * a plan too (e.g. `anonymous`).
   */
  plan?: Resolvable<string | undefined>;
  /** Shadow policies applied to every limited route (counted and reported, never rejecting). */
  shadowPolicies?: string[];
  /**
   * Answer a client already over its limit from memory until its retry time, instead of
   * asking Redis again (a flood from one client then costs one Redis call per retry
   * window). Exact: nothing could pass before the retry time. An admin reset clears the
   * blocks of this instance only; other instances keep theirs until they expire. Also,
   * while a client is at its limit, its concurrent requests wait for one Redis decision
   * instead of racing. Default on, at most 10 000 blocked clients; `false` turns it off.
   */
  localBlockCache?:
    | false
    | {
        /** Most clients blocked in memory at once; the oldest blocks are dropped beyond it. Default 10 000. */
        maxEntries?: number;
      };
  /**
   * Rejected requests: the capped Redis stream read by `GET /system/rate-limit/violations`,
   * and the aggregated log lines. Default: stream on (cap 10 000, flushed every second,
   * no sampling), at most 5 lines plus one summary per 10 s.
   */
  violations?: ViolationOptions;
  /**
   * WebSocket gateways (`@nestjs/websockets`, on `ws` or socket.io): messages of handlers
   * with `@RateLimit` (on the handler or its gateway) are limited per client; a rejected
   * message is answered with a `WsException` and the socket stays open unless this says otherwise.
   */
  websocket?: WebSocketLimitOptions;
  /**
   * Per-instance load shedding: while this process's event-loop delay passes
   * `maxEventLoopDelayMs`, routes marked `@ShedUnderLoad()` answer 503 with `Retry-After`
   * (`retryAfterSeconds`, default 1) before any Redis call. Off by default.
   */
  loadShedding?: LoadSheddingOptions;
}

/** The `websocket` option of {@link RateLimitModuleOptions}. */
export interface WebSocketLimitOptions {
  /**
   * Close a socket at its N-th rejected message (counted per socket, over its lifetime):
   * a client that ignores rejections stops costing a Redis call per message. The rejection
   * is sent first; ws closes with code 1008 (policy violation), socket.io disconnects.
   * Default: never closed.
   */
  closeAfterRejections?: number;
}

/** The default policy's tiers when `defaultTiers` is not given: 60 per minute, 1000 per hour, 10 per 10 s (`burst`). */
export const DEFAULT_TIERS: Readonly<Record<string, TierDefinition>> = {
  minute: { limit: 60, windowMs: 60_000 },
  hour: { limit: 1000, windowMs: 3_600_000 },
  burst: { limit: 10, windowMs: 10_000 },
};

/**
 * Validates the options at start-up and builds every policy (throws naming the bad option);
 * `violations` is validated where it is resolved, once (the module's violation options provider).
 */
export function buildRegistry(options: RateLimitModuleOptions): PolicyRegistry {
  const algorithm = options.algorithm ?? DEFAULT_ALGORITHM;
  const definitions: Record<string, PolicyDefinition> = {
    [DEFAULT_POLICY]: { tiers: { ...(options.defaultTiers ?? DEFAULT_TIERS) } },
    ...options.policies,
  };
  const registry = new PolicyRegistry(
    Object.entries(definitions).map(([name, def]) => buildPolicy(name, def, algorithm)),
    algorithm,
  );
  for (const name of options.shadowPolicies ?? []) {
    if (!registry.get(name).shadow) {
      throw shieldError('invalidOption', 'shadowPolicies', name, 'policies defined with shadow: true');
    }
  }
  // Absent (or null): the default, which is valid.
  checkPositiveInteger(
    'localBlockCache.maxEntries',
    options.localBlockCache === false ? 1 : (options.localBlockCache?.maxEntries ?? 1),
  );
  checkPositiveInteger('fallbackMaxClients', options.fallbackMaxClients ?? 1);
  ipv6SubnetOf(options);
  if (options.websocket?.closeAfterRejections !== undefined) {
    checkPositiveInteger('websocket.closeAfterRejections', options.websocket.closeAfterRejections);
  }
  if (options.failMode !== undefined) checkOneOf('failMode', options.failMode, FAIL_MODES, 'open or closed');
  if (options.loadShedding) resolveLoadShedding(options.loadShedding);
  return registry;
}

/** Applies the defaults to `violations` and validates it (throws naming the bad option). */
export function resolveViolationOptions(options: ViolationOptions = {}): ResolvedViolationOptions {
  const resolved: ResolvedViolationOptions = {
    stream: options.stream ?? true,
    maxLength: options.maxLength ?? 10_000,
    flushIntervalMs: options.flushIntervalMs ?? 1000,
    maxBuffered: options.maxBuffered ?? 10_000,
    sampleRate: options.sampleRate ?? 1,
    log:
      options.log === false ? false : { lines: options.log?.lines ?? 5, intervalMs: options.log?.intervalMs ?? 10_000 },
  };
  checkPositiveInteger('violations.maxLength', resolved.maxLength);
  checkPositiveInteger('violations.flushIntervalMs', resolved.flushIntervalMs);
  checkPositiveInteger('violations.maxBuffered', resolved.maxBuffered);
  if (resolved.log) {
    checkPositiveInteger('violations.log.intervalMs', resolved.log.intervalMs);
    checkIntegerInRange('violations.log.lines', resolved.log.lines, 0);
  }
  if (!(resolved.sampleRate > 0 && resolved.sampleRate <= 1)) {
    throw shieldError('invalidOption', 'violations.sampleRate', resolved.sampleRate, 'a number in (0, 1]');
  }
  return resolved;
}
