import { BoundedMap } from '../../core/lru.js';
import { SingleFlight } from '../../core/single-flight.js';
import type { RateLimitPolicy, RateLimitResult } from './rate-limit.types.js';

/** Costs of single policies, by name (see `RateLimitStoreRequest.policyCosts`). */
type PolicyCosts = Readonly<Record<string, number>> | undefined;

interface Block {
  result: RateLimitResult;
  cost: number;
  policyCosts: PolicyCosts;
  /** App time (ms) the rejection arrived. */
  since: number;
  /** App time (ms) until which a request of at least `cost` cannot pass. */
  until: number;
  /** The instance bus's epoch when the block was made (see {@link BlockLifetime}). */
  epoch: number;
}

/**
 * How long a block may be kept besides its retry time: the instance bus's bound. While
 * the bus is connected a reset from another instance arrives and clears the block; while
 * it is not (or was not, since the block was made), a block lives at most the bus's
 * `staleAfterMs`, so a missed reset heals by itself.
 */
export interface BlockLifetime {
  /** The bus's current epoch (changes whenever its connection does). */
  readonly epoch: number;
  /** Longest life, in ms, of local state made at `epoch` (Infinity while nothing was missed). */
  maxLocalLifetimeMs(epoch: number): number;
}

/**
 * Remembers, per instance, clients that were rejected until their retry time, so a
 * client that keeps hammering while over its limit is answered without Redis (as Envoy
 * and Upstash do). Safe because a rejection's `retryAfterMs` is when a retry of the same
 * cost can first pass: nothing earlier could be admitted, so nothing is lost but Redis
 * calls. A cheaper request than the rejected one still asks Redis. The block is measured
 * from when the answer arrived, so it can only err late by the round trip (strict side).
 * A reset clears the client's blocks on every instance through the instance bus; a block
 * never spares a Redis call past the bus's staleness bound while the bus is (or was) down
 * ({@link BlockLifetime}), but while Redis cannot be asked it rejects until its retry time.
 * Bounded: beyond `maxEntries` the oldest blocks are dropped.
 *
 * It also keeps concurrent requests of a client at its limit from racing to Redis: once a
 * client was rejected or admitted with nothing remaining, its next Redis decision leads
 * and the requests arriving meanwhile wait for it ({@link leader}). A rejection then
 * answers them all locally; an admission lets the next one lead. A client with room
 * left never waits.
 */
export class BlockCache {
  /** Blocks by client and policies, the one written longest ago dropped first beyond `maxEntries`. */
  private readonly blocks: BoundedMap<string, Block>;
  /** Clients last seen at their limit (rejected, or admitted with 0 remaining), oldest first. */
  private readonly contended: BoundedMap<string, true>;
  /** The Redis decision in flight of each contended client (settled either way, never rejected). */
  private readonly leaders = new SingleFlight<void>();

  constructor(
    maxEntries = 10_000,
    private readonly now: () => number = Date.now,
    /** The instance bus, which bounds how long a block outlives a reset it may have missed. */
    private readonly lifetime?: BlockLifetime,
  ) {
    this.blocks = new BoundedMap(maxEntries);
    this.contended = new BoundedMap(maxEntries);
  }

  /**
   * The rejection to repeat for this request, with its times moved on; undefined when Redis
   * must decide. With `redisDown` (Redis cannot be asked: the fallback would decide), a block
   * the instance bus no longer vouches for still counts: it is Redis's last word about the
   * client, and a missed reset only keeps it rejected until its retry time (the strict side),
   * where dropping it would hand it a fresh per-instance quota.
   */
  get(
    clientId: string,
    policies: readonly RateLimitPolicy[],
    cost: number,
    policyCosts?: PolicyCosts,
    { redisDown = false }: { redisDown?: boolean } = {},
  ): RateLimitResult | undefined {
    const key = keyOf(clientId, policies);
    const block = this.blocks.get(key);
    if (!block) return undefined;
    const now = this.now();
    if (now >= block.until) {
      this.blocks.delete(key);
      return undefined;
    }
    // Past the bus's bound Redis decides again, but the block is kept for an outage (a
    // Redis admission of the same cost drops it, see remember).
    if (!redisDown && this.lifetime && now - block.since > this.lifetime.maxLocalLifetimeMs(block.epoch)) {
      return undefined;
    }
    return covers(block, policies, cost, policyCosts) ? elapse(block.result, now - block.since) : undefined;
  }

  /**
   * The Redis decision in flight for this client while it is at its limit: wait for it,
   * then ask {@link get} again. Undefined when the request should go to Redis itself.
   */
  leader(clientId: string, policies: readonly RateLimitPolicy[]): Promise<void> | undefined {
    return this.leaders.size === 0 ? undefined : this.leaders.get(keyOf(clientId, policies));
  }

  /**
   * Notes a Redis decision just sent for this client: when the client is at its limit, it
   * leads, and requests arriving before it settles wait for it.
   */
  deciding(clientId: string, policies: readonly RateLimitPolicy[], decision: Promise<unknown>): void {
    if (this.contended.size === 0) return;
    const key = keyOf(clientId, policies);
    if (!this.contended.has(key)) return;
    // The first decision leads until it settles; one sent meanwhile does not replace it.
    void this.leaders.run(key, () =>
      decision.then(
        () => undefined,
        () => undefined,
      ),
    );
  }

  /**
   * Learns from a decision: a rejection is repeated locally until its retry time; a client
   * rejected or left with nothing remaining is contended; one with room left is not. A
   * rejection because the cost exceeds a limit teaches nothing (no wait lets that cost
   * pass, and it says nothing about smaller costs): it is neither a block nor contention.
   */
  remember(
    clientId: string,
    policies: readonly RateLimitPolicy[],
    cost: number,
    result: RateLimitResult,
    policyCosts?: PolicyCosts,
  ): void {
    if (!result.allowed && !Number.isFinite(result.retryAfterMs)) return;
    const key = keyOf(clientId, policies);
    // Redis admitted what a block kept past the bus's bound would reject: the block was stale.
    const block = result.allowed && this.blocks.size > 0 ? this.blocks.get(key) : undefined;
    if (block && covers(block, policies, cost, policyCosts)) this.blocks.delete(key);
    if (result.allowed && result.remaining > 0) {
      if (this.contended.size > 0) this.contended.delete(key);
      return;
    }
    this.contended.set(key, true); // moved to the newest end: the oldest is dropped first
    if (result.allowed || result.retryAfterMs <= 0) return;
    const now = this.now();
    // The newest block; beyond maxEntries the one written longest ago is dropped.
    this.blocks.set(key, {
      result,
      cost,
      policyCosts,
      since: now,
      until: now + result.retryAfterMs,
      epoch: this.lifetime?.epoch ?? 0,
    });
  }

  /** Forgets every block of a client (after an admin reset). */
  clear(clientId: string): void {
    const prefix = `${clientId}\0`;
    for (const key of this.blocks.keys()) if (key.startsWith(prefix)) this.blocks.delete(key);
    for (const key of this.contended.keys()) if (key.startsWith(prefix)) this.contended.delete(key);
  }

  get size(): number {
    return this.blocks.size;
  }
}

/** Whether a block applies to a request: one that costs at least as much in every policy. */
function covers(block: Block, policies: readonly RateLimitPolicy[], cost: number, policyCosts: PolicyCosts): boolean {
  if (policyCosts === undefined && block.policyCosts === undefined) return cost >= block.cost;
  return policies.every((p) => costIn(p, cost, policyCosts) >= costIn(p, block.cost, block.policyCosts));
}

/** What a request costs in one policy. */
function costIn(policy: RateLimitPolicy, cost: number, policyCosts: PolicyCosts): number {
  return policyCosts?.[policy.name] ?? cost;
}

function keyOf(clientId: string, policies: readonly RateLimitPolicy[]): string {
  let key = `${clientId}\0`;
  for (const policy of policies) key += `${policy.name}\0`;
  return key;
}

/** The same rejection `elapsedMs` later: every wait shorter by that much (never below 0). */
function elapse(result: RateLimitResult, elapsedMs: number): RateLimitResult {
  if (elapsedMs <= 0) return result;
  const less = (ms: number) => Math.max(0, ms - elapsedMs);
  return {
    ...result,
    resetMs: less(result.resetMs),
    retryAfterMs: less(result.retryAfterMs),
    nowMs: result.nowMs + elapsedMs,
    tiers: result.tiers.map((tier) => ({
      ...tier,
      resetMs: less(tier.resetMs),
      retryAfterMs: less(tier.retryAfterMs),
    })),
  };
}
