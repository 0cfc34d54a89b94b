/**
 * nestjs-redis-shield: Redis-backed distributed rate limiting and HTTP response
 * caching for NestJS. This file is the package's main public entry point; the Terminus
 * integration is the separate entry point `nestjs-redis-shield/terminus`.
 *
 * @module nestjs-redis-shield
 */
export { type InstanceBusOptions } from './bus/bus.options.js';
export { HASHED_ID_LENGTH, hashId } from './common/hmac-id.js';
export { ShieldCoreModule } from './events/shield-core.module.js';
export {
  type BusState,
  type BusStateEvent,
  type CacheLookupEvent,
  type CacheLookupStatus,
  type CacheCorruptEvent,
  type CacheStoreEvent,
  type Listener as ShieldEventListener,
  type RateLimitDecisionEvent,
  type RateLimitViolationEvent,
  type RedisCommandEvent,
  type RedisCommandOutcome,
  type RedisConnectionState,
  type RedisStateEvent,
  type ShieldEventMap,
  ShieldEvents,
  type ViolationsDroppedEvent,
} from './events/shield-events.js';
export { type ConnectionStatusSource, type LimiterStatusSource, ShieldStatus } from './events/shield-status.js';
export { DEFAULT_METRIC_PREFIX, METRIC_NAMES, PER_USER_ROUTE } from './metrics/metric-names.js';
export { type ShieldMetricsModuleExtras, ShieldMetricsModule } from './metrics/metrics.module.js';
export { type PerUserEntrySizes, type ShieldMetricsModuleOptions } from './metrics/metrics.options.js';
export { METRICS_MODULE_OPTIONS } from './metrics/metrics.tokens.js';
export { ShieldMetrics } from './metrics/shield-metrics.js';
export { type CircuitBreakerOptions, type CircuitState, DEFAULT_BREAKER_OPTIONS } from './redis/circuit-breaker.js';
export { appClock, type Clock, ManualClock, redisClock } from './redis/clock.js';
export { Deadline, requestDeadline } from './redis/deadline.js';
export {
  type CacheIndexKind,
  type CacheMetaKey,
  escapeGlob,
  KEY_AREAS,
  KeyBuilder,
  type KeyBuilderOptions,
} from './redis/key-builder.js';
export { RedisConnection, type RunOptions, type ScriptRunner } from './redis/redis.connection.js';
export {
  RedisCommandError,
  RedisJsonError,
  RedisUnavailableError,
  type RedisUnavailableReason,
} from './redis/redis.errors.js';
export { REDIS_MODULE_OPTIONS, type RedisModuleExtras } from './redis/redis.module-definition.js';
export { RedisModule } from './redis/redis.module.js';
export {
  DEFAULT_REDIS_URL,
  DEV_HASH_SECRET,
  type RedisClient,
  type RedisModuleOptions,
  type RedisNodeAddress,
} from './redis/redis.options.js';
export { RedisService, type RedisValue, type SetOptions } from './redis/redis.service.js';
export {
  DEFAULT_REDIS_CONNECTION,
  getRedisConnectionToken,
  getRedisServiceToken,
  InjectRedis,
  InjectRedisConnection,
} from './redis/redis.tokens.js';
export { ALGORITHMS } from './rate-limit/algorithms/index.js';
export type { RateLimitAlgorithm, TierParams, TierVerdict } from './rate-limit/algorithms/algorithm.js';
export {
  buildPolicy,
  DEFAULT_POLICY,
  MAX_TIER_LIMIT,
  MAX_TIER_WINDOW_MS,
  type PolicyDefinition,
  PolicyRegistry,
  type TierDefinition,
} from './rate-limit/policy.js';
export { type RateLimitModuleExtras } from './rate-limit/rate-limit.module-definition.js';
export { RATE_LIMIT_MODULE_OPTIONS } from './rate-limit/rate-limit.tokens.js';
export { RateLimitModule } from './rate-limit/rate-limit.module.js';
export {
  DEFAULT_TIERS,
  type FailMode,
  resolveViolationOptions,
  type RateLimitModuleOptions,
  type Resolvable,
} from './rate-limit/rate-limit.options.js';
export {
  type InlineRateLimit,
  RateLimit,
  RateLimitCost,
  type RateLimitCostOptions,
  type RateLimitCostSpec,
  type RateLimitSpec,
  SkipRateLimit,
} from './rate-limit/rate-limit.decorator.js';
export { RateLimitGuard } from './rate-limit/rate-limit.guard.js';
export {
  RateLimitTestingModule,
  type RateLimitTestingOptions,
} from './rate-limit/testing/rate-limit-testing.module.js';
export {
  type CostExceedsLimitBody,
  CostExceedsLimitException,
  type RateLimitExceededBody,
  RateLimitExceededException,
  RateLimitUnavailableException,
} from './rate-limit/rate-limit.exception.js';
export {
  type HeaderOptions,
  type HeaderTemplate,
  headerTemplate,
  rateLimitHeaders,
} from './rate-limit/rate-limit-headers.js';
export {
  boundedClientId,
  type ClientAddressOptions,
  defaultUserId,
  IpAllowlist,
  ipClientId,
  normalizeIp,
  userClientId,
} from './rate-limit/client-id.js';
export { cacheStatusOf, clientIdOf, type HttpExchange, httpExchange, routeTemplateOf } from './http/http-facade.js';
export { type RateLimitCallOptions, RateLimitService } from './rate-limit/rate-limit.service.js';
export {
  RATE_LIMIT_ALGORITHMS,
  type RateLimitAlgorithmName,
  type RateLimitPolicy,
  type RateLimitResult,
  type RateLimitTier,
  type TierResult,
} from './rate-limit/rate-limit.types.js';
export {
  RateLimitStore,
  type RateLimitStoreDecision,
  type RateLimitStoreRequest,
} from './rate-limit/store.interface.js';
export { MemoryRateLimitStore, type MemoryStoreOptions } from './rate-limit/stores/memory.store.js';
export { RedisRateLimitStore } from './rate-limit/stores/redis.store.js';
export {
  type ResolvedViolationOptions,
  type Violation,
  type ViolationOptions,
  type ViolationRecord,
} from './rate-limit/violations/violation.js';
export { ViolationLog } from './rate-limit/violations/violation-log.js';
export { ViolationRecorder } from './rate-limit/violations/violation-recorder.js';
export { APPEND_BATCH, ViolationStream } from './rate-limit/violations/violation-stream.js';
export { mostRestrictive, summarize } from './rate-limit/summarize.js';
export {
  CacheShared,
  CacheTags,
  CacheTtl,
  CacheVary,
  InvalidateCache,
  type InvalidationTargets,
  NoCache,
} from './cache/cache.decorators.js';
export { CacheInterceptor, type CacheStatus } from './cache/cache.interceptor.js';
export { type CacheStats, CacheService } from './cache/cache.service.js';
export { CacheStatsCounter, STATS_FLUSH_INTERVAL_MS } from './cache/cache-stats.counter.js';
export { type ResponseCacheModuleExtras } from './cache/cache.module-definition.js';
export { ResponseCacheModule } from './cache/cache.module.js';
export { type HonorRequestCacheControl, type ResponseCacheModuleOptions } from './cache/cache.options.js';
export { type CachedResponse, CorruptEntryError } from './cache/entry-codec.js';
export { ResponseCacheWriter } from './cache/response-cache.writer.js';
export {
  type CacheEntryRef,
  compilePattern,
  GENERATION_TTL_MS,
  INDEX_GRACE_MS,
  ResponseCacheStore,
  type ResponseCacheStats,
  STATS_SAMPLE_SIZE,
} from './cache/store/response-cache.store.js';
export { InvalidPatternError, type InvalidPatternReason } from './cache/store/pattern.js';
export { SystemAdminGuard } from './system-api/admin.guard.js';
export { SystemApiModule } from './system-api/system-api.module.js';
export {
  type AdminVerdict,
  type AuthorizeOption,
  DEFAULT_STATUS_PER_MINUTE,
  type StatusLimitOption,
  SYSTEM_API_OPTIONS,
  type SystemApiModuleOptions,
} from './system-api/system-api.options.js';
export {
  ApiAdminOperation,
  ApiBadParameter,
  ApiRateLimited,
  RATE_LIMIT_HEADERS,
} from './system-api/api-docs.decorators.js';
export {
  CacheStatsResponse,
  DeletedResponse,
  RateLimitExceededResponse,
  RateLimitStatusResponse,
  ResetResponse,
  SystemErrorResponse,
  TierStatus,
  TtlSample,
  ViolationEntry,
  ViolationsResponse,
} from './system-api/system-api.responses.js';
export { parseSince, ViolationsQuery } from './system-api/system-api.dto.js';
