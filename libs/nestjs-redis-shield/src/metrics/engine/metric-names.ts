/** The prefix of every metric name unless `ShieldMetricsModule.forRoot({ prefix })` says otherwise. */
export const DEFAULT_METRIC_PREFIX = 'shield_';

/**
 * Every metric the library exports, by role, without the prefix. Label sets are fixed
 * and bounded: route templates (never concrete paths), policy and tier names, connection
 * names. No client, user or IP ever becomes a label.
 */
export const METRIC_NAMES = {
  /** Counter `{route, outcome="allowed"|"rejected", fallback="true"|"false"}`: requests the guard decided. */
  rateLimitRequests: 'ratelimit_requests_total',
  /** Counter `{policy, tier, outcome="allowed"|"rejected", shadow="true"|"false"}`: each tier's verdict per request. */
  rateLimitTierDecisions: 'ratelimit_tier_decisions_total',
  /** Gauge `{connection}`: 1 while the in-memory fallback decides (`open` mode, Redis down). */
  rateLimitFallbackActive: 'ratelimit_fallback_active',
  /** Counter: violations not written to the stream because the buffer was full. */
  violationsDropped: 'ratelimit_violations_dropped_total',
  /** Counter `{route, status="HIT"|"MISS"|"BYPASS"}`: cacheable requests by final status. */
  cacheLookups: 'cache_lookups_total',
  /** Counter `{route}`: stored entries that failed to decode (written by something else, or partly) and were deleted. */
  cacheCorruptEntries: 'cache_corrupt_entries_total',
  /** Histogram `{route}`: bytes of stored cache entries (after compression); shared entries only, per-user ones as `perUserEntrySizes` says (`aggregate`: under `route="(per-user)"`). */
  cacheEntryBytes: 'cache_entry_bytes',
  /** Counter `{tier="l1"|"l2"}`: lookups answered from the cache, by the tier that answered (in-process L1 or Redis). */
  cacheHits: 'cache_hits_total',
  /** Counter `{reason="revalidate"|"error"}`: stale entries served (stale-while-revalidate window, or stale-if-error). */
  cacheStaleServed: 'cache_stale_served_total',
  /** Counter `{outcome="filled"|"timeout"|"leader"}`: misses that waited on another instance's lease, by how the wait ended. */
  cacheLeaseWaits: 'cache_lease_waits_total',
  /** Counter `{outcome="stored"|"failed"}`: background refreshes after a stale-while-revalidate serve, by outcome. */
  cacheBackgroundRefreshes: 'cache_background_refreshes_total',
  /** Histogram `{connection}`: delivery lag of instance bus messages from other instances, seconds (wall clocks; skew clamped at 0). */
  busDeliveryLag: 'bus_delivery_lag_seconds',
  /** Histogram `{connection, command, outcome="ok"|"error"|"timeout"|"unavailable"}`: Redis call latency, seconds. */
  redisCommandDuration: 'redis_command_duration_seconds',
  /** Gauge `{connection}`: 1 when connected with the circuit closed, else 0. */
  redisUp: 'redis_up',
  /** Gauge `{connection}`: 1 while the circuit breaker is open. */
  redisCircuitOpen: 'redis_circuit_open',
} as const;

/**
 * The `route` label under which `cache_entry_bytes` pools every per-user entry with
 * `perUserEntrySizes: 'aggregate'`; never a route template (those start with `/`).
 */
export const PER_USER_ROUTE = '(per-user)';
