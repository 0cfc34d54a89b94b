import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ShieldEvents } from '../../core/events/shield-events.js';
import { ShieldStatus } from '../../core/events/shield-status.js';
import { DEFAULT_METRIC_PREFIX, METRIC_NAMES, PER_USER_ROUTE } from '../engine/metric-names.js';
import { METRICS_MODULE_OPTIONS } from './metrics.constants.js';
import { type ShieldMetricsModuleOptions, validateMetricsOptions } from '../engine/metrics.options.js';

/** Latency buckets in seconds: sub-millisecond loopback up to a 1 s stall. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
/** Bus delivery lag buckets in seconds: a loopback millisecond up to the bus's 1 s delivery bound and beyond. */
const LAG_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Stored entry sizes in bytes: from a small JSON body up to the 1 MiB default cap. */
const SIZE_BUCKETS = [256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576];

/**
 * The library's Prometheus metrics. Counters and histograms follow the internal events
 * (the hot path never knows Prometheus); gauges read the status registry when scraped.
 * Each instance serves its own; Prometheus aggregates across instances.
 */
@Injectable()
export class ShieldMetrics implements OnModuleDestroy {
  /** The registry the metrics live in (the one passed in, or the module's own). */
  readonly registry: Registry;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly names: string[];

  /** @internal Instantiated by Nest as part of `ShieldMetricsModule`. */
  constructor(
    @Inject(METRICS_MODULE_OPTIONS) options: ShieldMetricsModuleOptions,
    events: ShieldEvents,
    status: ShieldStatus,
  ) {
    validateMetricsOptions(options);
    this.registry = options.registry ?? new Registry();
    const prefix = options.prefix ?? DEFAULT_METRIC_PREFIX;
    const registers = [this.registry];
    const name = (key: keyof typeof METRIC_NAMES) => `${prefix}${METRIC_NAMES[key]}`;
    this.names = Object.keys(METRIC_NAMES).map((key) => name(key as keyof typeof METRIC_NAMES));
    // A registry that already collects them (often the global one) must not get them twice.
    if (options.defaultMetrics && !this.registry.getSingleMetric('process_cpu_user_seconds_total')) {
      collectDefaultMetrics({ register: this.registry });
    }

    const requests = new Counter({
      name: name('rateLimitRequests'),
      help: 'Requests the rate-limit guard decided, by route template and outcome; fallback="true" when decided in memory',
      labelNames: ['route', 'outcome', 'fallback'] as const,
      registers,
    });
    const tiers = new Counter({
      name: name('rateLimitTierDecisions'),
      help: "Each tier's verdict per decided request, by policy and tier; shadow tiers included",
      labelNames: ['policy', 'tier', 'outcome', 'shadow'] as const,
      registers,
    });
    const dropped = new Counter({
      name: name('violationsDropped'),
      help: 'Rate-limit violations not written to the stream because the in-process buffer was full',
      registers,
    });
    const lookups = new Counter({
      name: name('cacheLookups'),
      help: 'Cacheable requests by route template and final X-Cache-Status',
      labelNames: ['route', 'status'] as const,
      registers,
    });
    const corrupt = new Counter({
      name: name('cacheCorruptEntries'),
      help: 'Stored response-cache entries that failed to decode and were deleted, by route template',
      labelNames: ['route'] as const,
      registers,
    });
    // A per-user entry's size is one user's: off the per-route series unless asked (see the option).
    const perUserSizes = options.perUserEntrySizes ?? 'off';
    const entryBytes = new Histogram({
      name: name('cacheEntryBytes'),
      help: 'Size of stored response-cache entries in bytes, after compression; shared entries, per-user ones only as perUserEntrySizes says',
      labelNames: ['route'] as const,
      buckets: SIZE_BUCKETS,
      registers,
    });
    const hits = new Counter({
      name: name('cacheHits'),
      help: 'Lookups answered from the cache, by the tier that answered: l1 (in-process) or l2 (Redis)',
      labelNames: ['tier'] as const,
      registers,
    });
    const stale = new Counter({
      name: name('cacheStaleServed'),
      help: 'Stale cache entries served, by reason: revalidate (stale-while-revalidate) or error (stale-if-error)',
      labelNames: ['reason'] as const,
      registers,
    });
    const leaseWaits = new Counter({
      name: name('cacheLeaseWaits'),
      help: "Cache misses that waited on another instance's lease, by outcome: filled, timeout or leader",
      labelNames: ['outcome'] as const,
      registers,
    });
    const refreshes = new Counter({
      name: name('cacheBackgroundRefreshes'),
      help: 'Background refreshes after a stale-while-revalidate serve, by outcome: stored or failed',
      labelNames: ['outcome'] as const,
      registers,
    });
    const busLag = new Histogram({
      name: name('busDeliveryLag'),
      help: 'Delivery lag of instance bus messages from other instances in seconds, by connection (wall clocks; skew clamped at 0)',
      labelNames: ['connection'] as const,
      buckets: LAG_BUCKETS,
      registers,
    });
    const latency = new Histogram({
      name: name('redisCommandDuration'),
      help: 'Redis call latency in seconds, by connection, command (script name or family) and outcome',
      labelNames: ['connection', 'command', 'outcome'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    });
    new Gauge({
      name: name('redisUp'),
      help: '1 when the Redis connection is ready (connected, circuit closed), else 0',
      labelNames: ['connection'] as const,
      registers,
      collect() {
        this.reset();
        for (const connection of status.connections()) {
          this.set({ connection: connection.name }, connection.state === 'ready' ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: name('redisCircuitOpen'),
      help: "1 while the connection's circuit breaker is open (Redis skipped, one probe per interval)",
      labelNames: ['connection'] as const,
      registers,
      collect() {
        this.reset();
        for (const connection of status.connections()) {
          this.set({ connection: connection.name }, connection.circuitOpen ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: name('rateLimitFallbackActive'),
      help: '1 while rate limits are decided by the in-memory fallback (open mode, Redis down)',
      labelNames: ['connection'] as const,
      registers,
      collect() {
        this.reset();
        for (const limiter of status.limiters()) {
          this.set({ connection: limiter.connection }, limiter.fallbackActive ? 1 : 0);
        }
      },
    });

    this.unsubscribe.push(
      events.on('ratelimit.decision', ({ route, result, fallback }) => {
        requests.inc({
          route: route ?? 'unknown',
          outcome: result.allowed ? 'allowed' : 'rejected',
          fallback: fallback ? 'true' : 'false',
        });
        for (const tier of result.tiers) {
          tiers.inc({
            policy: tier.policy,
            tier: tier.tier,
            outcome: tier.allowed ? 'allowed' : 'rejected',
            shadow: tier.shadow ? 'true' : 'false',
          });
        }
      }),
      events.on('ratelimit.violations.dropped', ({ count }) => dropped.inc(count)),
      events.on('cache.lookup', ({ route, status: cacheStatus }) => lookups.inc({ route, status: cacheStatus })),
      events.on('cache.store', ({ route, bytes, perUser }) => {
        if (!perUser || perUserSizes === 'by-route') entryBytes.observe({ route }, bytes);
        else if (perUserSizes === 'aggregate') entryBytes.observe({ route: PER_USER_ROUTE }, bytes);
      }),
      events.on('cache.corrupt', ({ route }) => corrupt.inc({ route })),
      events.on('cache.hit', ({ tier }) => hits.inc({ tier })),
      events.on('cache.stale', ({ reason }) => stale.inc({ reason })),
      events.on('cache.lease.wait', ({ outcome }) => leaseWaits.inc({ outcome })),
      events.on('cache.refresh', ({ outcome }) => refreshes.inc({ outcome })),
      events.on('bus.delivery', ({ connection, lagMs }) => busLag.observe({ connection }, lagMs / 1000)),
      events.on('redis.command', ({ connection, command, durationMs, outcome }) =>
        latency.observe({ connection, command, outcome }, durationMs / 1000),
      ),
    );
  }

  /** The exposition text of every metric in the registry. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  /** The `Content-Type` of {@link metrics}. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Unsubscribes and removes the metrics, so a shared registry can serve a new app instance. */
  onModuleDestroy(): void {
    for (const off of this.unsubscribe) off();
    for (const metric of this.names) this.registry.removeSingleMetric(metric);
  }
}
