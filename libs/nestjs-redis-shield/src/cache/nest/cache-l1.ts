import type { OnApplicationShutdown } from '@nestjs/common';
import type { CacheInvalidateMessage } from '../../bus/engine/bus-message.js';
import type { InstanceBus } from '../../bus/store/instance-bus.js';
import type { CachedResponse } from '../engine/entry-codec.js';
import { L1Cache } from '../engine/l1-cache.js';
import type { ResolvedCacheOptions } from '../engine/cache.options.js';
import type { CacheInvalidation } from '../store/response-cache.store.js';

/** The bus's `staleAfterMs` when there is no bus to ask. */
const DEFAULT_MAX_AGE_WITHOUT_BUS_MS = 5000;

/**
 * @internal The L1 of this instance, joined to the instance bus: every invalidation the
 * store runs (here or on another instance) arrives as a `cache.invalidate` message and
 * drops what it covers (see `L1Cache`). With the L1 off it neither subscribes nor
 * publishes, so the bus carries nothing new.
 */
export class CacheL1 implements OnApplicationShutdown {
  readonly cache: L1Cache<CachedResponse>;
  private readonly stopListening: () => void;

  constructor(
    options: ResolvedCacheOptions,
    private readonly bus?: InstanceBus,
  ) {
    this.cache = new L1Cache<CachedResponse>(
      {
        maxBytes: options.l1.maxBytes,
        perUser: options.l1.perUser,
        maxAgeWithoutBusMs: options.l1.maxAgeWithoutBusMs ?? bus?.staleAfterMs ?? DEFAULT_MAX_AGE_WITHOUT_BUS_MS,
      },
      bus,
    );
    this.stopListening =
      this.cache.enabled && bus ? bus.on('cache.invalidate', (message) => this.apply(message)) : () => undefined;
  }

  /**
   * Tells every instance's L1 (this one's at once) about an invalidation the store ran:
   * called once Redis deleted what it covers. Resolves once published (never rejects).
   */
  async invalidated(what: CacheInvalidation): Promise<void> {
    if (!this.cache.enabled) return;
    const message: CacheInvalidateMessage =
      what.scope === 'all' ? { type: 'cache.invalidate', scope: 'all' } : { type: 'cache.invalidate', ...what };
    // The bus delivers to this instance's handlers before it publishes.
    if (this.bus) await this.bus.publish(message);
    else this.apply(message);
  }

  /** @internal Stops listening to the bus. */
  onApplicationShutdown(): void {
    this.stopListening();
  }

  private apply(message: CacheInvalidateMessage): void {
    if (message.scope === 'key') this.cache.invalidateKey(message.value);
    // A route, path, user or tag invalidation: the L1 keeps no index, so it all goes (safe).
    else this.cache.invalidateAll();
  }
}
