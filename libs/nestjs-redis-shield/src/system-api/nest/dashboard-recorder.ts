import { randomBytes } from 'node:crypto';
import { Inject, Injectable, type OnModuleDestroy, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { BufferedFlush } from '../../core/buffered-flush.js';
import type { CacheHitTier } from '../../core/events/shield-events.js';
import { ShieldEvents } from '../../core/events/shield-events.js';
import type { RateLimitDecisionEvent } from '../../rate-limit/engine/rate-limit.events.js';
import type { RedisConnection } from '../../redis/store/redis.connection.js';
import { DashboardTally } from '../engine/dashboard-counts.js';
import { DashboardStore } from '../store/dashboard.store.js';
import { DASHBOARD_CONNECTION } from './system-api.options.js';

/** How often an instance adds its counts and its heartbeat to Redis, in ms. */
export const DASHBOARD_FLUSH_INTERVAL_MS = 1000;

const LAYER_OF_TIER: Readonly<Record<CacheHitTier, 'l1' | 'redis'>> = { l1: 'l1', l2: 'redis' };

/**
 * Counts what the dashboard shows from the library's internal events (rate-limit
 * decisions, cache hits by layer, lookups by route) in process, and adds them to the
 * dashboard's Redis hash once per second with this instance's heartbeat: the hot path
 * gains a map increment, never a Redis call. Counts that cannot be sent (Redis down) are
 * kept for the next second. Exists only with `dashboard` enabled.
 */
@Injectable()
export class DashboardRecorder implements OnModuleDestroy {
  /** This instance's random id, as the dashboard lists it under "instances". */
  readonly instanceId = randomBytes(9).toString('base64url');
  /** Where the counts go and are read back from. */
  readonly store: DashboardStore;
  private readonly tally: BufferedFlush<DashboardTally>;
  private readonly unsubscribe: (() => void)[];
  /**
   * Whether this instance serves HTTP: until its server listens (never, in an application
   * context such as `npm run validate`), it sends nothing, so it is not listed as an
   * instance and leaves no data behind.
   */
  private serving = false;

  /** @internal Instantiated by Nest as part of `SystemApiModule` with `dashboard` enabled. */
  constructor(
    @Inject(DASHBOARD_CONNECTION) connection: RedisConnection,
    events: ShieldEvents,
    @Optional() adapterHost?: HttpAdapterHost,
  ) {
    this.store = new DashboardStore(connection);
    this.tally = new BufferedFlush<DashboardTally>({
      intervalMs: DASHBOARD_FLUSH_INTERVAL_MS,
      empty: () => new DashboardTally(),
      // Never empty once serving: an idle instance still sends its heartbeat, so it is listed as alive.
      isEmpty: () => !this.serving,
      send: (tally) => this.store.add(tally, this.instanceId, Date.now()),
      restore: (unsent, current) => unsent.merge(current),
    });
    this.unsubscribe = [
      events.on('ratelimit.decision', (event) => this.decided(event)),
      events.on('cache.hit', ({ tier }) => this.tally.current.layer(LAYER_OF_TIER[tier])),
      events.on('cache.stale', () => this.tally.current.layer('stale')),
      events.on('cache.lookup', ({ route, status }) => {
        if (status === 'MISS') this.tally.current.layer('miss');
        this.tally.current.route(route, status);
      }),
    ];
    adapterHost?.listen$.subscribe(() => (this.serving = true));
    // The last second's counts reach Redis before the connection closes on shutdown.
    connection.beforeClose(() => this.tally.close().then(() => undefined));
  }

  /** Sends what was counted so far (after a send in flight, if any); never rejects. */
  flush(): Promise<void> {
    return this.tally.drain();
  }

  /** Stops counting. */
  onModuleDestroy(): void {
    for (const off of this.unsubscribe) off();
  }

  /**
   * An admitted request counts as allowed in every enforced tier it passed; a rejected one
   * as rejected in each tier that refused it (not in the tiers it would have passed).
   * Shadow policies report, never decide: they are left out.
   */
  private decided({ result }: RateLimitDecisionEvent): void {
    const tally = this.tally.current;
    for (const tier of result.tiers) {
      if (tier.shadow) continue;
      if (result.allowed) tally.decision(tier.policy, tier.tier, 'allowed');
      else if (!tier.allowed) tally.decision(tier.policy, tier.tier, 'rejected');
    }
  }
}
