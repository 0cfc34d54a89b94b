import type { OnApplicationShutdown } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import type { InstanceBus } from '../../bus/store/instance-bus.js';
import type { ShieldEvents } from '../../core/events/shield-events.js';
import { SingleFlight } from '../../core/single-flight.js';
import { TIMED_OUT, withTimeout } from '../../core/timeout.js';
import type { ResolvedCacheOptions } from '../engine/cache.options.js';
import type { LeaseRequest, ResponseCacheStore } from '../store/response-cache.store.js';
import type { CacheL1 } from './cache-l1.js';
import type { RedisConnection } from '../../redis/store/redis.connection.js';

/** How often a waiting follower reads the entry again when the bus is up (it is woken at once by the bus). */
const POLL_WITH_BUS_MS = 250;
/** How often it reads it again when the bus is down or absent. */
const POLL_WITHOUT_BUS_MS = 50;

/**
 * How a wait for another instance's leader ended: its entry arrived (`filled`), the lease
 * became free and this caller took it (`leader`, with its token), the leader finished
 * without storing anything (`unstored`: run the handler), or the follower timeout (or a
 * Redis failure) ended it first (`timeout`: run the handler).
 */
export type LeaseWait =
  | { outcome: 'filled'; entry: Buffer }
  | { outcome: 'leader'; token: string }
  | { outcome: 'unstored' }
  | { outcome: 'timeout' };

/** Wakes one waiting follower: with the leader's `stored` flag, or undefined to look again now. */
type Wake = (stored: boolean | undefined) => void;

/**
 * @internal The cross-instance side of the cache's single-flight: the first miss of a
 * digest on any instance takes a lease in Redis with its lookup (see
 * `ResponseCacheStore.lookup`); a miss that finds the lease held waits here for the
 * leader's entry, woken by the leader's `cache.filled` message on the instance bus and,
 * should that be lost or the bus be down, by a bounded poll that reads the entry again
 * (and takes the lease if the leader died and it expired). The leader releases its lease
 * and announces the outcome with {@link finish}. One wait per digest per instance: the
 * requests of this instance that miss meanwhile follow the local leader.
 *
 * A leader that finishes while Redis cannot be reached (stalled, the breaker open) cannot
 * give its lease back then; left in Redis, it would hold every instance's next miss of the
 * entry for the rest of its lifetime, waiting on a leader long gone. It is given back once
 * the connection is ready again (`RedisConnection.undoWhenReady`).
 *
 * When this instance's connection goes down (its breaker opens: Redis stalled or gone) or
 * its bus does, the leader's message may never come: every waiting follower looks again
 * at once instead of at its next poll, and with the breaker open runs the handler itself,
 * so a request caught by the start of a stall waits about one deadline, not a poll more.
 */
export class CacheLeases implements OnApplicationShutdown {
  private readonly tokenPrefix = randomBytes(9).toString('base64url');
  private issued = 0;
  private readonly waiters = new Map<string, Set<Wake>>();
  private readonly waits = new SingleFlight<LeaseWait>();
  private readonly stopListening: (() => void)[] = [];

  constructor(
    private readonly store: Pick<ResponseCacheStore, 'lookup' | 'releaseLease'>,
    private readonly options: Pick<ResolvedCacheOptions, 'followerTimeoutMs'>,
    private readonly connection: Pick<RedisConnection, 'name' | 'commandTimeoutMs' | 'undoWhenReady'>,
    private readonly bus?: InstanceBus,
    private readonly l1?: CacheL1,
    events?: Pick<ShieldEvents, 'on'>,
  ) {
    if (bus) {
      this.stopListening.push(
        bus.on('cache.filled', ({ digest, stored }, { local }) => {
          // A newer value is in Redis: another instance's copy of the old one goes (this
          // instance's writer put the new one in its L1 already).
          if (stored && !local) this.l1?.cache.forget(digest);
          for (const wake of this.waiters.get(digest) ?? []) wake(stored);
        }),
      );
    }
    if (events) {
      const lookAgain = ({ connection, state }: { connection: string; state: string }) => {
        if (connection === this.connection.name && state === 'down') this.wakeAll();
      };
      this.stopListening.push(events.on('redis.state', lookAgain), events.on('bus.state', lookAgain));
    }
  }

  /** A new lease request: a token unique to this caller, lasting the follower timeout. */
  request(): LeaseRequest {
    return { token: `${this.tokenPrefix}.${++this.issued}`, ms: this.options.followerTimeoutMs };
  }

  /** Waits (at most `followerTimeoutMs`) for the leader on another instance; see {@link LeaseWait}. */
  wait(digest: string): Promise<LeaseWait> {
    return this.waits.run(digest, () => this.waitOnce(digest));
  }

  /**
   * The leader is done: gives its lease up and tells the waiting instances whether the
   * entry is stored. Resolves when both were tried; never rejects. A lease Redis could not
   * be asked to give back is given back, with the message, once the connection is ready.
   */
  async finish(digest: string, token: string, stored: boolean): Promise<void> {
    const release = () => this.store.releaseLease(digest, token, { timeoutMs: this.connection.commandTimeoutMs });
    const announce = () => this.bus?.publish({ type: 'cache.filled', digest, stored });
    await Promise.all([
      release().catch(() =>
        // Within the lease's lifetime (it was taken no later than now).
        this.connection.undoWhenReady(`cache-lease:${digest}`, this.options.followerTimeoutMs, () =>
          release().then(announce),
        ),
      ),
      announce(),
    ]);
  }

  /** @internal Stops listening to the bus and to its connection's and bus's state. */
  onApplicationShutdown(): void {
    for (const stop of this.stopListening) stop();
  }

  /** Every waiting follower looks again now (see the class's last paragraph). */
  private wakeAll(): void {
    for (const set of this.waiters.values()) for (const wake of set) wake(undefined);
  }

  private async waitOnce(digest: string): Promise<LeaseWait> {
    const endsAt = performance.now() + this.options.followerTimeoutMs;
    for (;;) {
      const left = endsAt - performance.now();
      if (left <= 0) return { outcome: 'timeout' };
      const poll = this.bus?.connected ? POLL_WITH_BUS_MS : POLL_WITHOUT_BUS_MS;
      const woken = await this.woken(digest, Math.min(poll, left));
      if (woken === false) return { outcome: 'unstored' };
      const lease = this.request();
      try {
        const reply = await this.store.lookup(digest, lease, {
          timeoutMs: Math.min(this.connection.commandTimeoutMs, Math.max(1, endsAt - performance.now())),
          tripsBreaker: false,
        });
        if (reply.entry) return { outcome: 'filled', entry: reply.entry };
        if (reply.lease === 'taken') return { outcome: 'leader', token: lease.token };
      } catch {
        // Redis cannot tell: the caller runs the handler, as without a lease.
        return { outcome: 'timeout' };
      }
    }
  }

  /**
   * Resolves with the leader's `stored` flag when its message arrives, or undefined after
   * `ms` or when this instance's Redis or bus went down meanwhile.
   */
  private async woken(digest: string, ms: number): Promise<boolean | undefined> {
    let wake!: Wake;
    const message = new Promise<boolean | undefined>((resolve) => (wake = resolve));
    let set = this.waiters.get(digest);
    if (!set) this.waiters.set(digest, (set = new Set()));
    set.add(wake);
    try {
      const outcome = await withTimeout(message, ms);
      return outcome === TIMED_OUT ? undefined : outcome;
    } finally {
      set.delete(wake);
      if (set.size === 0) this.waiters.delete(digest);
    }
  }
}
