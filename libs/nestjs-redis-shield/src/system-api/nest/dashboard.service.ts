import { Inject, Injectable, type OnModuleDestroy, Optional } from '@nestjs/common';
import { ShieldEvents } from '../../core/events/shield-events.js';
import { withTimeout } from '../../core/timeout.js';
import { type ConnectionStatusSource, ShieldStatus } from '../../core/events/shield-status.js';
import type { ViolationRecord } from '../../rate-limit/engine/violation.js';
import { ViolationStream } from '../../rate-limit/store/violation-stream.js';
import { RedisCommandError, RedisUnavailableError } from '../../redis/engine/redis.errors.js';
import type { RedisConnection } from '../../redis/store/redis.connection.js';
import type { DashboardCounts } from '../engine/dashboard-counts.js';
import {
  aliveInstances,
  type ConnectionRow,
  type DashboardData,
  hitRatio,
  TOP_REJECTED_WINDOW_MS,
  topRejected,
} from '../engine/dashboard-data.js';
import { DashboardRecorder } from './dashboard-recorder.js';
import { DASHBOARD_CONNECTION } from './system-api.options.js';

/** The budget of one connection's PING, in ms: a stalled Redis must not stall the page. */
const PING_TIMEOUT_MS = 500;
/** How long the data call waits for this instance's last counts to reach Redis, in ms. */
const FLUSH_WAIT_MS = 300;
/** Most violation entries read for the top rejected clients. */
const VIOLATIONS_READ = 1000;

/**
 * Builds the dashboard's JSON from what the library already keeps: the dashboard hash
 * (decisions, cache layers and routes, instance heartbeats), the violation stream (top
 * rejected clients), and the status registry (connections, breakers, fallback). Only this
 * call reads Redis; each part that cannot be read is null and the answer is `degraded`,
 * never an error, so the page can say what is happening while Redis is down.
 */
@Injectable()
export class DashboardService implements OnModuleDestroy {
  /** Connection name → since when it has been unreachable (ms since the epoch). */
  private readonly downSince = new Map<string, number>();
  private readonly stopListening: () => void;

  /** @internal Instantiated by Nest as part of `SystemApiModule` with `dashboard` enabled. */
  constructor(
    private readonly recorder: DashboardRecorder,
    private readonly status: ShieldStatus,
    @Inject(DASHBOARD_CONNECTION) private readonly connection: RedisConnection,
    events: ShieldEvents,
    /** Absent with `RateLimitTestingModule` (no Redis): no rejected clients are listed. */
    @Optional() private readonly violations?: ViolationStream,
  ) {
    this.stopListening = events.on('redis.state', ({ connection, state }) => {
      if (state === 'ready') this.downSince.delete(connection);
      else if (!this.downSince.has(connection)) this.downSince.set(connection, Date.now());
    });
  }

  /** Stops watching the connections' state. */
  onModuleDestroy(): void {
    this.stopListening();
  }

  /** The dashboard's data now; never throws for Redis being unavailable. */
  async data(): Promise<DashboardData> {
    const nowMs = Date.now();
    // This instance's last second of counts first, so the page sees its own traffic at once.
    // Bounded: a stalled Redis must not hold the page up (the counts stay queued for the next flush).
    if (this.connection.state === 'ready') await withTimeout(this.recorder.flush(), FLUSH_WAIT_MS);
    const [counts, violations, connections] = await Promise.all([
      settled(this.recorder.store.read(nowMs)),
      settled(this.readViolations(nowMs)),
      Promise.all(this.status.connections().map((connection) => this.connectionRow(connection))),
    ]);
    const readFailed = counts === undefined || violations === undefined;
    // The earlier of this failed read and the connection's own report (which may arrive meanwhile).
    if (readFailed)
      this.downSince.set(this.connection.name, Math.min(nowMs, this.downSince.get(this.connection.name) ?? nowMs));
    if (!readFailed && this.connection.state === 'ready') this.downSince.delete(this.connection.name);
    const limiters = this.status.limiters().map((limiter) => ({
      connection: limiter.connection,
      fail_mode: limiter.failMode,
      fallback_active: limiter.fallbackActive,
    }));
    const since = this.unreachableSince();
    return {
      generated_at: new Date(nowMs).toISOString(),
      degraded: readFailed || since !== undefined,
      redis_unreachable_since: since === undefined ? null : new Date(since).toISOString(),
      instance_id: this.recorder.instanceId,
      instances: aliveInstances(counts?.instances ?? {}, this.recorder.instanceId, nowMs),
      decisions: counts?.decisions ?? null,
      cache: counts ? cacheSection(counts) : null,
      top_rejected: violations ? topRejected(violations) : null,
      top_rejected_window_seconds: TOP_REJECTED_WINDOW_MS / 1000,
      connections,
      fallback_active: limiters.some((limiter) => limiter.fallback_active),
      limiters,
    };
  }

  private readViolations(nowMs: number): Promise<ViolationRecord[]> {
    if (!this.violations) return Promise.resolve([]);
    return this.violations.recent({ sinceMs: nowMs - TOP_REJECTED_WINDOW_MS, limit: VIOLATIONS_READ });
  }

  /** One connection's state, breaker and PING time (skipped while it is known down). */
  private async connectionRow(connection: ConnectionStatusSource): Promise<ConnectionRow> {
    const latency =
      connection.state === 'ready'
        ? await connection.ping({ timeoutMs: PING_TIMEOUT_MS }).then(
            (ms) => Math.round(ms * 100) / 100,
            () => null,
          )
        : null;
    const down = this.downSince.get(connection.name);
    return {
      name: connection.name,
      state: connection.state,
      breaker: connection.circuitOpen ? 'open' : 'closed',
      latency_ms: latency,
      down_since: down === undefined ? null : new Date(down).toISOString(),
    };
  }

  /** The earliest moment a connection in use became unreachable, if one is. */
  private unreachableSince(): number | undefined {
    const moments = [...this.downSince.values()];
    return moments.length === 0 ? undefined : Math.min(...moments);
  }
}

function cacheSection(counts: DashboardCounts): NonNullable<DashboardData['cache']> {
  return { layers: counts.layers, hit_ratio: hitRatio(counts.layers), routes: counts.routes };
}

/** The value, or undefined when Redis could not serve it (the part is shown as unavailable); other errors propagate. */
function settled<T>(promise: Promise<T>): Promise<T | undefined> {
  return promise.catch((error: unknown) => {
    if (error instanceof RedisUnavailableError || error instanceof RedisCommandError) return undefined;
    throw error;
  });
}
