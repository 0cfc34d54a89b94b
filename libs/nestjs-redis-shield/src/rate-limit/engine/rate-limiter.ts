import { Logger } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type { LimiterStatusSource } from '../../core/events/shield-status.js';
import { requestDeadline } from '../../core/deadline.js';
import type { RedisConnection } from '../../redis/store/redis.connection.js';
import { RedisCommandError, RedisUnavailableError } from '../../redis/engine/redis.errors.js';
import type { InstanceBus } from '../../bus/store/instance-bus.js';
import type { BlockCache } from './block-cache.js';
import { RateLimitUnavailableException } from '../nest/rate-limit.exceptions.js';
import type { FailMode } from './rate-limit.options.js';
import type { RateLimitPolicy, RateLimitResult } from './rate-limit.types.js';
import type { RateLimitStore } from '../store/store.interface.js';
import type { MemoryRateLimitStore } from '../store/memory.store.js';
import { summarize } from './summarize.js';

/** A decision, and whether the in-memory fallback made it because Redis failed. */
export interface LimiterDecision {
  result: RateLimitResult;
  fallback: boolean;
}

/**
 * The guard's counting policy, written once: Redis first, within the request's
 * deadline; when Redis is unavailable (or refuses the script), `open` counts in the
 * in-memory store with the same policies, `closed` answers 503; either way a client Redis
 * had rejected until a later time stays rejected (the block cache). Distributed counting
 * resumes by itself once the connection's breaker closes.
 */
export class RateLimiter implements LimiterStatusSource {
  private readonly logger = new Logger('RateLimit');
  private lastErrorLogAt = 0;
  private unregister: () => void = () => undefined;
  private readonly stopListening: () => void;

  constructor(
    private readonly fallback: MemoryRateLimitStore,
    readonly failMode: FailMode,
    private readonly primary?: { store: RateLimitStore; connection: RedisConnection },
    /** Clients rejected until their retry time, answered without Redis; none when disabled. */
    private readonly blocks?: BlockCache,
    /** Tells every instance about a reset (each drops the client's local state); none in tests. */
    private readonly bus?: InstanceBus,
  ) {
    this.stopListening = bus?.on('ratelimit.reset', ({ client }) => this.drop(client)) ?? (() => undefined);
  }

  /** The connection the counters live on (`memory` without one). */
  get connection(): string {
    return this.primary?.connection.name ?? 'memory';
  }

  /** Whether requests are decided in memory now: `open` mode with the connection down. */
  get fallbackActive(): boolean {
    return this.failMode === 'open' && this.primary?.connection.state === 'down';
  }

  /** Reports this limiter to the status registry (metrics, health) until {@link close}. */
  register(status: { addLimiter(limiter: LimiterStatusSource): () => void }): this {
    this.unregister = status.addLimiter(this);
    return this;
  }

  /**
   * A client's standing in `policies` without counting: from Redis, or, when Redis is
   * unavailable (or refuses the script), from this instance's fallback state, flagged
   * `degraded` (whatever the fail mode: reading a standing never needs to fail).
   */
  async status(
    request: IncomingMessage,
    clientId: string,
    policies: readonly RateLimitPolicy[],
  ): Promise<{ result: RateLimitResult; degraded: boolean }> {
    if (this.primary && !this.primary.connection.circuitOpen) {
      const deadline = requestDeadline(request, this.primary.connection.commandTimeoutMs);
      try {
        return { result: summarize(await this.primary.store.peek({ clientId, policies, deadline })), degraded: false };
      } catch (error) {
        if (!(error instanceof RedisUnavailableError || error instanceof RedisCommandError)) throw error;
      }
    }
    const local = this.localId(clientId);
    return { result: summarize(await this.fallback.peek({ clientId: local, policies })), degraded: !!this.primary };
  }

  async consume(
    request: IncomingMessage,
    clientId: string,
    policies: readonly RateLimitPolicy[],
    cost: number,
    /** Costs of single policies, by name, instead of `cost` (see `RateLimitStoreRequest.policyCosts`). */
    policyCosts: Readonly<Record<string, number>> | undefined,
    /** Called right before the Redis call (not for a local block or the fallback), e.g. to start a cache read alongside. */
    beforeRedis?: () => void,
  ): Promise<LimiterDecision> {
    // Local state (blocks, fallback buckets) is keyed by the client's HMAC, the form a reset
    // from another instance names it by.
    const local = this.localId(clientId);
    if (this.primary) {
      // Shared with the cache: a budget of Redis time, which waits in the app never spend.
      const deadline = requestDeadline(request, this.primary.connection.commandTimeoutMs);
      let blocked = this.blocks?.get(local, policies, cost, policyCosts);
      if (blocked) return { result: blocked, fallback: false };
      // A client at its limit: wait for the decision in flight; its rejection answers here.
      for (let leader = this.blocks?.leader(local, policies); leader;) {
        await leader;
        blocked = this.blocks!.get(local, policies, cost, policyCosts);
        if (blocked) return { result: blocked, fallback: false };
        leader = this.blocks!.leader(local, policies);
      }
      if (this.primary.connection.circuitOpen) beforeRedis = undefined;
      try {
        const decision = this.primary.store.consume({ clientId, policies, cost, policyCosts, deadline });
        this.blocks?.deciding(local, policies, decision);
        beforeRedis?.();
        const result = summarize(await decision);
        this.blocks?.remember(local, policies, cost, result, policyCosts);
        return { result, fallback: false };
      } catch (error) {
        if (!(error instanceof RedisUnavailableError || error instanceof RedisCommandError)) throw error;
        if (error instanceof RedisCommandError && Date.now() - this.lastErrorLogAt > 10_000) {
          // At most one line per 10 s: a persistent error (e.g. OOM) would otherwise flood.
          this.lastErrorLogAt = Date.now();
          this.logger.error(`rate-limit script failed: ${error.message}`);
        }
        // What Redis said about the client still holds, in either fail mode: a block learned
        // while this request waited (another request's rejection), or one kept past the bus's
        // bound. A client Redis rejected is never handed a fresh per-instance quota.
        const known = this.blocks?.get(local, policies, cost, policyCosts, { redisDown: true });
        if (known) return { result: known, fallback: false };
        if (this.failMode === 'closed') throw new RateLimitUnavailableException();
      }
    }
    return {
      result: summarize(await this.fallback.consume({ clientId: local, policies, cost, policyCosts })),
      fallback: !!this.primary,
    };
  }

  /**
   * Forgets what every instance keeps locally about a client (blocks, fallback buckets)
   * after its buckets were reset: this instance at once, the others through the bus
   * within a second (or when their local state ages out while the bus is down).
   */
  async forget(clientId: string): Promise<void> {
    const local = this.localId(clientId);
    // Never rejects: a failed publish leaves the others to their staleness bound.
    if (this.bus) await this.bus.publish({ type: 'ratelimit.reset', client: local });
    else this.drop(local);
  }

  close(): void {
    this.unregister();
    this.stopListening();
    this.fallback.close();
  }

  /** The client's HMAC with a Redis connection (never a raw id on the bus); the raw id without. */
  private localId(clientId: string): string {
    return this.primary ? this.primary.connection.keys.hashId(clientId) : clientId;
  }

  /** Drops this instance's state of a client, by the id {@link localId} gives. */
  private drop(local: string): void {
    this.blocks?.clear(local);
    this.fallback.forget(local);
  }
}
