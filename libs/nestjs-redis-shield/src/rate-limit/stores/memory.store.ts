import type { Clock } from '../../redis/clock.js';
import { ALGORITHMS } from '../algorithms/index.js';
import type { RateLimitPolicy, TierResult } from '../rate-limit.types.js';
import type { RateLimitStore, RateLimitStoreDecision, RateLimitStoreRequest } from '../store.interface.js';
import { tierResult } from './tier-result.js';

/** Options of the {@link MemoryRateLimitStore}. */
export interface MemoryStoreOptions {
  /** Where time comes from (the store reads `clock.now()`). */
  clock: Clock;
  /** Most clients kept; the least recently seen is dropped beyond it. Default 100 000. */
  maxClients?: number;
  /** How often expired buckets are swept, in ms. Default 10 000. */
  sweepIntervalMs?: number;
}

interface PolicyBucket {
  tiers: Map<string, number[]>;
  /** Epoch ms after which the bucket is forgotten (twice its longest window, as in Redis). */
  expiresAt: number;
}

/**
 * Counters in process memory, per instance: the fallback while Redis is unavailable,
 * and a store for tests and single-instance apps. Same algorithms and all-or-nothing
 * rule as the Redis script. Memory is bounded: an LRU cap on clients, and expiry
 * timestamps swept by one interval timer (never a timer per key).
 */
export class MemoryRateLimitStore implements RateLimitStore {
  private readonly clients = new Map<string, Map<string, PolicyBucket>>();
  private readonly maxClients: number;
  private readonly sweeper: NodeJS.Timeout;

  /** Starts the sweep timer (unref'd, so it never keeps the process alive); {@link MemoryRateLimitStore.close | close()} stops it. */
  constructor(private readonly options: MemoryStoreOptions) {
    this.maxClients = options.maxClients ?? 100_000;
    this.sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 10_000);
    this.sweeper.unref();
  }

  /** Clients currently held. */
  get size(): number {
    return this.clients.size;
  }

  async consume(request: RateLimitStoreRequest): Promise<RateLimitStoreDecision> {
    return this.decide(request, request.cost, true);
  }

  async peek(request: Omit<RateLimitStoreRequest, 'cost'>): Promise<RateLimitStoreDecision> {
    return this.decide(request, 0, false);
  }

  async reset(clientId: string, policies: readonly RateLimitPolicy[]): Promise<void> {
    const buckets = this.clients.get(clientId);
    for (const policy of policies) buckets?.delete(policy.name);
    if (buckets?.size === 0) this.clients.delete(clientId);
  }

  /** Stops the sweep timer. */
  close(): void {
    clearInterval(this.sweeper);
  }

  /** Drops every expired bucket and every client left without one. */
  sweep(now = this.options.clock.now()): void {
    for (const [clientId, buckets] of this.clients) {
      for (const [policy, bucket] of buckets) if (bucket.expiresAt <= now) buckets.delete(policy);
      if (buckets.size === 0) this.clients.delete(clientId);
    }
  }

  private decide(
    { clientId, policies }: Omit<RateLimitStoreRequest, 'cost'>,
    cost: number,
    write: boolean,
  ): RateLimitStoreDecision {
    const nowMs = Math.floor(this.options.clock.now());
    const buckets = this.touch(clientId);
    const tiers: TierResult[] = [];
    const pending: { policy: RateLimitPolicy; next: Map<string, number[]> }[] = [];
    let allowed = true;
    for (const policy of policies) {
      const bucket = buckets.get(policy.name);
      const live = bucket && bucket.expiresAt > nowMs ? bucket.tiers : undefined;
      const next = new Map<string, number[]>();
      let admits = true;
      for (const tier of policy.tiers) {
        const verdict = ALGORITHMS[tier.algorithm].decide(live?.get(tier.name), tier, cost, nowMs);
        tiers.push(tierResult(policy, tier, verdict));
        if (verdict.allowed) next.set(tier.name, verdict.next);
        else admits = false;
      }
      if (!admits && !policy.shadow) allowed = false;
      if (admits) pending.push({ policy, next });
    }
    if (write && allowed) {
      for (const { policy, next } of pending) {
        const bucket = buckets.get(policy.name);
        const expiresAt = nowMs + 2 * Math.max(...policy.tiers.map((tier) => tier.windowMs));
        if (bucket && bucket.expiresAt > nowMs) {
          for (const [tier, state] of next) bucket.tiers.set(tier, state);
          bucket.expiresAt = expiresAt;
        } else {
          buckets.set(policy.name, { tiers: next, expiresAt });
        }
      }
    }
    if (buckets.size === 0) this.clients.delete(clientId);
    return { allowed, nowMs, tiers };
  }

  /** The client's buckets, marked most recently used; evicts the least recent beyond the cap. */
  private touch(clientId: string): Map<string, PolicyBucket> {
    let buckets = this.clients.get(clientId);
    if (buckets) this.clients.delete(clientId);
    else buckets = new Map();
    this.clients.set(clientId, buckets);
    if (this.clients.size > this.maxClients) {
      const oldest = this.clients.keys().next().value as string;
      this.clients.delete(oldest);
    }
    return buckets;
  }
}
