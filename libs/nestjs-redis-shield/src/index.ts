/**
 * nestjs-redis-shield: Redis-backed distributed rate limiting and HTTP response
 * caching for NestJS. This file is the package's main public entry point; the Terminus
 * integration is the separate entry point `nestjs-redis-shield/terminus`.
 *
 * @module nestjs-redis-shield
 */
export { type InstanceBusOptions } from './bus/engine/bus.options.js';
export { HASHED_ID_LENGTH, hashId } from './core/hmac-id.js';
export { ShieldCoreModule } from './core/shield-core.module.js';
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
} from './core/events/shield-events.js';
export { type ConnectionStatusSource, type LimiterStatusSource, ShieldStatus } from './core/events/shield-status.js';
export { DEFAULT_METRIC_PREFIX, METRIC_NAMES, PER_USER_ROUTE } from './metrics/engine/metric-names.js';
export { type ShieldMetricsModuleExtras, ShieldMetricsModule } from './metrics/nest/metrics.module.js';
export { type PerUserEntrySizes, type ShieldMetricsModuleOptions } from './metrics/engine/metrics.options.js';
export { METRICS_MODULE_OPTIONS } from './metrics/nest/metrics.constants.js';
export { ShieldMetrics } from './metrics/nest/shield-metrics.js';
export {
  type CircuitBreakerOptions,
  type CircuitState,
  DEFAULT_BREAKER_OPTIONS,
} from './redis/engine/circuit-breaker.js';
export { appClock, type Clock, ManualClock, redisClock } from './core/clock.js';
export { Deadline, requestDeadline } from './core/deadline.js';
/** The stable codes (`SHIELD_E<nnn>`) every error of the library carries, and how to read one. */
export { ERROR_CODES, type ShieldError, type ShieldErrorCode, shieldErrorCode } from './core/errors.js';
export {
  type CacheIndexKind,
  type CacheMetaKey,
  escapeGlob,
  KEY_AREAS,
  KeyBuilder,
  type KeyBuilderOptions,
} from './redis/engine/key-builder.js';
export { RedisConnection, type RunOptions, type ScriptRunner } from './redis/store/redis.connection.js';
export {
  RedisCommandError,
  RedisJsonError,
  RedisUnavailableError,
  type RedisUnavailableReason,
} from './redis/engine/redis.errors.js';
export { REDIS_MODULE_OPTIONS, type RedisModuleExtras } from './redis/nest/redis.providers.js';
export { RedisModule } from './redis/nest/redis.module.js';
export {
  DEFAULT_REDIS_URL,
  DEV_HASH_SECRET,
  type RedisClient,
  type RedisModuleOptions,
  type RedisNodeAddress,
} from './redis/engine/redis.options.js';
export { RedisService, type RedisValue, type SetOptions } from './redis/store/redis.service.js';
export {
  DEFAULT_REDIS_CONNECTION,
  getRedisConnectionToken,
  getRedisServiceToken,
  InjectRedis,
  InjectRedisConnection,
} from './redis/nest/redis.constants.js';
/** The algorithm registry; new here: DEFAULT_ALGORITHM (names and the list moved from rate-limit.types). */
export {
  ALGORITHMS,
  DEFAULT_ALGORITHM,
  RATE_LIMIT_ALGORITHMS,
  type RateLimitAlgorithmName,
} from './rate-limit/engine/algorithms/registry.js';
/** An algorithm's halves; new here: TierDecider, the TypeScript half. */
export type {
  RateLimitAlgorithm,
  TierDecider,
  TierParams,
  TierVerdict,
} from './rate-limit/engine/algorithms/algorithm.js';
export {
  buildPolicy,
  DEFAULT_POLICY,
  MAX_TIER_LIMIT,
  MAX_TIER_WINDOW_MS,
  type PolicyDefinition,
  PolicyRegistry,
  type TierDefinition,
} from './rate-limit/engine/policy.js';
export { type RateLimitModuleExtras } from './rate-limit/nest/rate-limit.providers.js';
export { RATE_LIMIT_MODULE_OPTIONS } from './rate-limit/nest/rate-limit.constants.js';
export { RateLimitModule } from './rate-limit/nest/rate-limit.module.js';
export {
  DEFAULT_TIERS,
  type FailMode,
  resolveViolationOptions,
  type RateLimitModuleOptions,
  type Resolvable,
} from './rate-limit/engine/rate-limit.options.js';
export {
  type InlineRateLimit,
  RateLimit,
  RateLimitCost,
  type RateLimitCostOptions,
  type RateLimitCostSpec,
  type RateLimitSpec,
  SkipRateLimit,
} from './rate-limit/nest/rate-limit.decorators.js';
export { RateLimitGuard } from './rate-limit/nest/rate-limit.guard.js';
/** Who is calling and which policies apply to them: the guard's client id, exemptions and route policies, injectable. */
export { ClientIdentity } from './rate-limit/nest/client-identity.js';
export { RateLimitTestingModule, type RateLimitTestingOptions } from './rate-limit/nest/rate-limit-testing.module.js';
export {
  type CostExceedsLimitBody,
  CostExceedsLimitException,
  type RateLimitExceededBody,
  RateLimitExceededException,
  RateLimitUnavailableException,
} from './rate-limit/nest/rate-limit.exceptions.js';
export {
  type HeaderOptions,
  type HeaderTemplate,
  headerTemplate,
  rateLimitHeaders,
} from './rate-limit/engine/rate-limit-headers.js';
export {
  boundedClientId,
  type ClientAddressOptions,
  defaultUserId,
  IpAllowlist,
  ipClientId,
  normalizeIp,
  userClientId,
} from './rate-limit/engine/client-id.js';
export {
  cacheStatusOf,
  clientIdOf,
  type HttpExchange,
  httpExchange,
  routeTemplateOf,
} from './core/http/http-facade.js';
export { type RateLimitCallOptions, RateLimitService } from './rate-limit/nest/rate-limit.service.js';
export {
  type RateLimitPolicy,
  type RateLimitResult,
  type RateLimitTier,
  type TierResult,
} from './rate-limit/engine/rate-limit.types.js';
export {
  RateLimitStore,
  type RateLimitStoreDecision,
  type RateLimitStoreRequest,
} from './rate-limit/store/store.interface.js';
export { MemoryRateLimitStore, type MemoryStoreOptions } from './rate-limit/store/memory.store.js';
export { RedisRateLimitStore } from './rate-limit/store/redis.store.js';
export {
  type ResolvedViolationOptions,
  type Violation,
  type ViolationOptions,
  type ViolationRecord,
} from './rate-limit/engine/violation.js';
export { ViolationLog } from './rate-limit/engine/violation-log.js';
export { ViolationRecorder } from './rate-limit/store/violation-recorder.js';
export { APPEND_BATCH, ViolationStream } from './rate-limit/store/violation-stream.js';
export { mostRestrictive, summarize } from './rate-limit/engine/summarize.js';
export {
  CacheShared,
  CacheTags,
  CacheTtl,
  CacheVary,
  InvalidateCache,
  type InvalidationTargets,
  NoCache,
} from './cache/nest/cache.decorators.js';
export { CacheInterceptor, type CacheStatus } from './cache/nest/cache.interceptor.js';
export { type CacheStats, CacheService } from './cache/nest/cache.service.js';
export { CacheStatsCounter, STATS_FLUSH_INTERVAL_MS } from './cache/nest/cache-stats.counter.js';
export { type ResponseCacheModuleExtras } from './cache/nest/cache.providers.js';
export { ResponseCacheModule } from './cache/nest/cache.module.js';
export { type HonorRequestCacheControl, type ResponseCacheModuleOptions } from './cache/engine/cache.options.js';
export { type CachedResponse, CorruptEntryError } from './cache/engine/entry-codec.js';
export { ResponseCacheWriter } from './cache/nest/response-cache.writer.js';
export {
  type CacheEntryRef,
  compilePattern,
  GENERATION_TTL_MS,
  INDEX_GRACE_MS,
  ResponseCacheStore,
  type ResponseCacheStats,
  STATS_SAMPLE_SIZE,
} from './cache/store/response-cache.store.js';
export { InvalidPatternError, type InvalidPatternReason } from './cache/engine/pattern.js';
export { SystemAdminGuard } from './system-api/nest/admin.guard.js';
export { SystemApiModule } from './system-api/nest/system-api.module.js';
export {
  type AdminVerdict,
  type AuthorizeOption,
  DEFAULT_STATUS_PER_MINUTE,
  type StatusLimitOption,
  SYSTEM_API_OPTIONS,
  type SystemApiModuleOptions,
} from './system-api/nest/system-api.options.js';
export {
  ApiAdminOperation,
  ApiBadParameter,
  ApiRateLimited,
  RATE_LIMIT_HEADERS,
} from './system-api/nest/api-docs.decorators.js';
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
} from './system-api/nest/system-api.responses.js';
export { parseSince, ViolationsQuery } from './system-api/nest/system-api.dto.js';
