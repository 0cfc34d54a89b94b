/**
 * nestjs-redis-shield: Redis-backed distributed rate limiting and HTTP response
 * caching for NestJS. This file is the package's main public entry point; the Terminus
 * integration is the separate entry point `nestjs-redis-shield/terminus`.
 *
 * Every export below is here for a reason a user has (the comment above it says which);
 * everything else in the package is internal and may change in any release.
 *
 * @module nestjs-redis-shield
 */

// Redis connections.
/** Imported once per connection: `RedisModule.forRoot({ url })`, and its options. */
export { RedisModule } from './redis/nest/redis.module.js';
/** Typing `RedisModule.forRoot/forRootAsync` options, Cluster and Sentinel addresses, a client you bring. */
export { type RedisClient, type RedisModuleOptions, type RedisNodeAddress } from './redis/engine/redis.options.js';
/** Typing the static extras of `RedisModule.forRoot` (name, global). */
export { type RedisModuleExtras } from './redis/nest/redis.providers.js';
/** The `clock` option: `appClock(() => Date.now())` for the application's time instead of Redis `TIME`. */
export { appClock } from './core/clock.js';
/** Typing the `breaker` and `bus` options. */
export { type CircuitBreakerOptions } from './redis/engine/circuit-breaker.js';
/** Typing the `bus` option. */
export { type InstanceBusOptions } from './bus/engine/bus.options.js';
/** Injecting a connection by name, in your own providers. */
export {
  DEFAULT_REDIS_CONNECTION,
  getRedisConnectionToken,
  getRedisServiceToken,
  InjectRedis,
  InjectRedisConnection,
} from './redis/nest/redis.constants.js';
/** Your own Redis reads and writes with the library's deadline, breaker and key prefix. */
export { RedisService, type RedisValue, type SetOptions } from './redis/store/redis.service.js';
/** What `@InjectRedisConnection()` gives: commands with a deadline and breaker, your own scripts, the connection's state. */
export { RedisConnection, type RunOptions, type ScriptRunner } from './redis/store/redis.connection.js';
/** Telling a Redis outage (or a Redis error reply) from your own errors. */
export {
  RedisCommandError,
  RedisJsonError,
  RedisUnavailableError,
  type RedisUnavailableReason,
} from './redis/engine/redis.errors.js';

// Rate limiting.
/** Imported once: `RateLimitModule.forRoot({ policies, tiers, ... })`, and its options. */
export { RateLimitModule } from './rate-limit/nest/rate-limit.module.js';
/** Typing `RateLimitModule.forRoot/forRootAsync` options. */
export {
  DEFAULT_TIERS,
  type FailMode,
  type RateLimitModuleOptions,
  type Resolvable,
  type WebSocketLimitOptions,
} from './rate-limit/engine/rate-limit.options.js';
/** Injecting the module's options in your own providers (`@Inject(RATE_LIMIT_MODULE_OPTIONS)`). */
export { RATE_LIMIT_MODULE_OPTIONS } from './rate-limit/nest/rate-limit.constants.js';
/** Typing the static extras of `RateLimitModule.forRoot` (connection, guard, global). */
export { type RateLimitModuleExtras } from './rate-limit/nest/rate-limit.providers.js';
/** Typing named policies and their tiers, the bounds a tier must stay within, and checking policies before Nest starts (`buildPolicy` throws what the module would). */
export {
  buildPolicy,
  DEFAULT_POLICY,
  MAX_TIER_LIMIT,
  MAX_TIER_WINDOW_MS,
  type ConcurrencyTierDefinition,
  type PolicyDefinition,
  type PolicyTierDefinition,
  type TierDefinition,
} from './rate-limit/engine/policy.js';
/** The bounds and defaults of a concurrency tier (requests in flight): lease, limit, the wait a rejection asks for. */
export {
  CONCURRENCY_RETRY_MS,
  DEFAULT_LEASE_MS,
  MAX_CONCURRENCY_LIMIT,
  MAX_LEASE_MS,
} from './rate-limit/engine/concurrency.js';
/** The algorithm names a tier may use, e.g. to validate your own configuration. */
export {
  DEFAULT_ALGORITHM,
  RATE_LIMIT_ALGORITHMS,
  type RateLimitAlgorithmName,
} from './rate-limit/engine/algorithms/registry.js';
/** Declaring limits, costs and concurrency limits on controllers and handlers. */
export {
  ConcurrencyLimit,
  type ConcurrencyLimitMetadata,
  ConcurrencyLimitOn,
  type ConcurrencyLimitOptions,
  type InlineRateLimit,
  RateLimit,
  RateLimitCost,
  type RateLimitCostOptions,
  type RateLimitCostSpec,
  type RateLimitSpec,
  ShedUnderLoad,
  SkipRateLimit,
} from './rate-limit/nest/rate-limit.decorators.js';
/** Typing the `loadShedding` option (per-instance 503s for `@ShedUnderLoad` routes while the event loop lags). */
export { type LoadSheddingOptions } from './rate-limit/engine/load-shedding.js';
/** `@UseGuards(RateLimitGuard)` when the global guard is off, and subclassing its documented seams. */
export { RateLimitGuard } from './rate-limit/nest/rate-limit.guard.js';
/** Who is calling and which policies apply, injectable for your own limits outside HTTP guards. */
export { ClientIdentity } from './rate-limit/nest/client-identity.js';
/** Limiting anything else (logins, jobs, messages) with the same limiter, and reading or resetting a client. */
export { type RateLimitCallOptions, RateLimitService } from './rate-limit/nest/rate-limit.service.js';
/** Thrown by `RateLimitService.resetHashed` when a custom store cannot reset a client by its HMAC. */
export { HashedResetUnsupportedError } from './rate-limit/nest/rate-limiter.js';
/** What a decision says, per tier: for your own headers, logs or responses. */
export {
  type ConcurrencyTier,
  type RateLimitPolicy,
  type RateLimitResult,
  type RateLimitTier,
  type TierResult,
} from './rate-limit/engine/rate-limit.types.js';
/** The 429 (and 503 in closed mode or when shedding load) the guard throws: to catch, map or document them. */
export {
  type CostExceedsLimitBody,
  CostExceedsLimitException,
  LoadSheddingException,
  type RateLimitExceededBody,
  RateLimitExceededException,
  RateLimitUnavailableException,
} from './rate-limit/nest/rate-limit.exceptions.js';
/** The GraphQL error a rejected resolver throws (`extensions.code` `RATE_LIMITED`): to catch in `formatError` or document. */
export { GraphqlRateLimitError, type GraphqlRateLimitExtensions } from './rate-limit/nest/graphql-rate-limit.error.js';
/** Typing the `headers` option. */
export { type HeaderOptions } from './rate-limit/engine/rate-limit-headers.js';
/** Building client ids in a custom tracker or `RateLimitService` call the way the guard does. */
export {
  boundedClientId,
  type ClientAddressOptions,
  defaultUserId,
  ipClientId,
  normalizeIp,
  userClientId,
} from './rate-limit/engine/client-id.js';
/** The `store` option: a store of your own, or the in-memory one for tests and single instances. */
export {
  RateLimitStore,
  type RateLimitStoreDecision,
  type RateLimitStoreRequest,
} from './rate-limit/store/store.interface.js';
/** The request's Redis budget a store receives (`RateLimitStoreRequest.deadline`), for a store of your own that talks to Redis. */
export { type Deadline } from './core/deadline.js';
/** The in-memory store, for the `store` option in tests or a single instance. */
export { MemoryRateLimitStore, type MemoryStoreOptions } from './rate-limit/store/memory.store.js';
/** The default store, to wrap in a store of your own. */
export { RedisRateLimitStore } from './rate-limit/store/redis.store.js';
/** Typing the `violations` option and the violation records the system API and events carry. */
export { type Violation, type ViolationOptions, type ViolationRecord } from './rate-limit/engine/violation.js';
/** Tests of your app: limits without Redis, on a clock you move. */
export { RateLimitTestingModule, type RateLimitTestingOptions } from './rate-limit/nest/rate-limit-testing.module.js';
/** The clock `RateLimitTestingModule` (and your tests) move by hand. */
export { type Clock, ManualClock } from './core/clock.js';

// Response caching.
/** Imported once: `ResponseCacheModule.forRoot({ ttlSeconds, ... })`, and its options. */
export { ResponseCacheModule } from './cache/nest/cache.module.js';
/** Typing `ResponseCacheModule.forRoot/forRootAsync` options. */
export {
  type CacheTtlOptions,
  type HonorRequestCacheControl,
  type ResponseCacheL1Options,
  type ResponseCacheModuleOptions,
} from './cache/engine/cache.options.js';
/** Typing the static extras of `ResponseCacheModule.forRoot` (connection, interceptor, global). */
export { type ResponseCacheModuleExtras } from './cache/nest/cache.providers.js';
/** Declaring what is cached, for how long, shared or per user, and what a write invalidates. */
export {
  CacheShared,
  CacheTags,
  CacheTtl,
  CacheVary,
  InvalidateCache,
  type InvalidationTargets,
  NoCache,
} from './cache/nest/cache.decorators.js';
/** `@UseInterceptors(CacheInterceptor)` when the global interceptor is off. */
export { CacheInterceptor, type CacheStatus } from './cache/nest/cache.interceptor.js';
/** Invalidating from code, statistics, and caching values of your own. */
export { type CacheStats, CacheService } from './cache/nest/cache.service.js';
/** What `CacheService` throws for a bad invalidation pattern. */
export { InvalidPatternError, type InvalidPatternReason } from './cache/engine/pattern.js';

// Operations: system API, events, metrics, errors.
/** Imported once to mount `/system` (status for all, invalidation and resets for admins), and its options. */
export { SystemApiModule } from './system-api/nest/system-api.module.js';
/** Typing `SystemApiModule.forRoot` options (the dashboard's too) and an `authorize` function. */
export {
  type AdminVerdict,
  type AuthorizeOption,
  type DashboardOption,
  type StatusLimitOption,
  type SystemApiModuleOptions,
} from './system-api/nest/system-api.options.js';
/** Documenting your own rate-limited routes in OpenAPI the way the system API documents its own. */
export { ApiRateLimited, RATE_LIMIT_HEADERS } from './system-api/nest/api-docs.decorators.js';
/** The 429 body as an OpenAPI schema, for your own `@ApiResponse`. */
export { RateLimitExceededResponse } from './system-api/nest/system-api.responses.js';
/** Subscribing to what the library does (decisions, violations, cache lookups and tallies, Redis and bus state) in process. */
export {
  type BusDeliveryEvent,
  type BusState,
  type BusStateEvent,
  type CacheCorruptEvent,
  type CacheHitEvent,
  type CacheHitTier,
  type CacheLeaseWaitEvent,
  type CacheLeaseWaitOutcome,
  type CacheLookupEvent,
  type CacheLookupStatus,
  type CacheRefreshEvent,
  type CacheRefreshOutcome,
  type CacheStaleEvent,
  type CacheStaleReason,
  type CacheStoreEvent,
  type Listener as ShieldEventListener,
  type RedisCommandEvent,
  type RedisCommandOutcome,
  type RedisConnectionState,
  type RedisStateEvent,
  type ShieldEventMap,
  ShieldEvents,
} from './core/events/shield-events.js';
/** An in-process view of every connection's breaker and every limiter's fallback, for your own health checks. */
export { type ConnectionStatusSource, type LimiterStatusSource, ShieldStatus } from './core/events/shield-status.js';
/** The rate limiter's events (declared with the types they carry). */
export {
  type RateLimitDecisionEvent,
  type RateLimitViolationEvent,
  type ViolationsDroppedEvent,
} from './rate-limit/engine/rate-limit.events.js';
/** Imported once for Prometheus metrics, and its options. */
export { ShieldMetricsModule } from './metrics/nest/metrics.module.js';
/** Typing the static extras of `ShieldMetricsModule.forRoot` (path, global). */
export { type ShieldMetricsModuleExtras } from './metrics/nest/metrics.providers.js';
/** Typing `ShieldMetricsModule.forRoot` options. */
export { type PerUserEntrySizes, type ShieldMetricsModuleOptions } from './metrics/engine/metrics.options.js';
/** The metrics' registry, to serve or merge it yourself. */
export { ShieldMetrics } from './metrics/nest/shield-metrics.js';
/** Metric names and labels, for dashboards and alerts that do not hard-code them. */
export { DEFAULT_METRIC_PREFIX, METRIC_NAMES, PER_USER_ROUTE } from './metrics/engine/metric-names.js';
/** Matching the library's errors by their stable codes (`SHIELD_E<nnn>`). */
export { ERROR_CODES, type ShieldError, type ShieldErrorCode, shieldErrorCode } from './core/errors.js';
/** Reading, in your own middleware or logs, what the library decided for a request. */
export {
  cacheStatusOf,
  clientIdOf,
  type HttpExchange,
  httpExchange,
  routeTemplateOf,
} from './core/http/http-facade.js';
/** Finding a client's hashed id (as logs, keys and the system API show it). */
export { HASHED_ID_LENGTH, hashId } from './core/hmac-id.js';
