import type { Clock } from '../../core/clock.js';
import { BoundedMap } from '../../core/lru.js';
import { checkPositiveInteger } from '../../core/validators.js';
import { ALGORITHMS } from '../engine/algorithms/registry.js';
import { slotVerdict } from '../engine/concurrency.js';
import type { RateLimitPolicy, TierResult } from '../engine/rate-limit.types.js';
import {
  policyCost,
  type RateLimitStore,
  type RateLimitStoreDecision,
  type RateLimitStoreRequest,
} from './store.interface.js';
import { slotResult, tierResult } from './tier-result.js';

/** Options of the {@link MemoryRateLimitStore}. */
export interface MemoryStoreOptions {
  /** Where time comes from (the store reads `clock.now()`). */
  clock: Clock;
  /** Most clients kept; the least recently seen is dropped beyond it. Default 100 000. */
  maxClients?: number;
  /** How often expired buckets are swept, in ms. Default 10 000. */
  sweepIntervalMs?: number;
}

/** One policy's part of a decision, kept until the request's outcome is known. */
interface DecidedPolicy {
  policy: RateLimitPolicy;
  /** The live tier states read before deciding (undefined: a fresh bucket). */
  states: Map<string, number[]> | undefined;
  cost: number;
  /** Twice the policy's longest window, in ms. */
  ttlMs: number;
  /** Index of the policy's first tier in the decision's tiers. */
  first: number;
  /** Whether every tier admits the cost. */
  admits: boolean;
  /** The new state of each tier. */
  next: Map<string, number[]>;
  /** The latest instant (epoch ms) a tier's new state stands at. */
  atMs: number;
  /** The earliest instant (epoch ms) a tier's new state could be misread. */
  horizonMs: number;
  /** Whether an admitted request takes a slot of the policy's concurrency tier. */
  take: boolean;
}

/** One client's slots: policy name → lease token → when its lease ends (epoch ms). */
type ClientSlots = Map<string, Map<string, number>>;

interface PolicyBucket {
  tiers: Map<string, number[]>;
  /** Epoch ms from which the bucket is forgotten (twice its longest window past its time, as in Redis). */
  expiresAt: number;
}

/**
 * Counters in process memory, per instance: the fallback while Redis is unavailable,
 * and a store for tests and single-instance apps. Same algorithms and all-or-nothing
 * rule as the Redis script. Memory is bounded: an LRU cap on clients, and expiry
 * timestamps swept by one interval timer (never a timer per key).
 */
export class MemoryRateLimitStore implements RateLimitStore {
  /** Each client's buckets; a decision writes its client anew, so the least recently seen is dropped first. */
  private readonly clients: BoundedMap<string, Map<string, PolicyBucket>>;
  /** Each client's slots in concurrency tiers, bounded like the buckets. */
  private readonly slots: BoundedMap<string, ClientSlots>;
  private readonly sweeper: NodeJS.Timeout;

  /**
   * Starts the sweep timer (unref'd, so it never keeps the process alive); {@link MemoryRateLimitStore.close | close()} stops it.
   *
   * @throws Error (`SHIELD_E001`) when `maxClients` is not a positive integer.
   */
  constructor(private readonly options: MemoryStoreOptions) {
    this.clients = new BoundedMap(checkPositiveInteger('maxClients', options.maxClients ?? 100_000));
    this.slots = new BoundedMap(this.clients.max);
    this.sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 10_000);
    this.sweeper.unref();
  }

  /** Clients currently held. */
  get size(): number {
    return this.clients.size;
  }

  async consume(request: RateLimitStoreRequest): Promise<RateLimitStoreDecision> {
    return this.decide(request, (policy) => policyCost(request, policy), true);
  }

  async peek(request: Omit<RateLimitStoreRequest, 'cost'>): Promise<RateLimitStoreDecision> {
    return this.decide(request, () => 0, false);
  }

  async reset(clientId: string, policies: readonly RateLimitPolicy[]): Promise<void> {
    const buckets = this.clients.get(clientId);
    const slots = this.slots.get(clientId);
    for (const policy of policies) {
      buckets?.delete(policy.name);
      slots?.delete(policy.name);
    }
    if (buckets?.size === 0) this.clients.delete(clientId);
    if (slots?.size === 0) this.slots.delete(clientId);
  }

  async release(clientId: string, policies: readonly RateLimitPolicy[], leaseToken: string): Promise<void> {
    const slots = this.slots.get(clientId);
    if (!slots) return;
    for (const policy of policies) {
      const held = slots.get(policy.name);
      if (held?.delete(leaseToken) && held.size === 0) slots.delete(policy.name);
    }
    if (slots.size === 0) this.slots.delete(clientId);
  }

  /** Forgets every bucket and slot of a client, whatever policy made it. */
  forget(clientId: string): void {
    this.clients.delete(clientId);
    this.slots.delete(clientId);
  }

  /** Stops the sweep timer. */
  close(): void {
    clearInterval(this.sweeper);
  }

  /** Drops every expired bucket and slot lease, and every client left without one. */
  sweep(now = this.options.clock.now()): void {
    for (const [clientId, buckets] of this.clients) {
      for (const [policy, bucket] of buckets) if (bucket.expiresAt <= now) buckets.delete(policy);
      if (buckets.size === 0) this.clients.delete(clientId);
    }
    for (const [clientId, slots] of this.slots) {
      for (const [policy, held] of slots) {
        for (const [token, endsAt] of held) if (endsAt <= now) held.delete(token);
        if (held.size === 0) slots.delete(policy);
      }
      if (slots.size === 0) this.slots.delete(clientId);
    }
  }

  /** The Redis script's decision, step for step (see rate-limit.lua.ts). */
  private decide(
    { clientId, policies, leaseToken }: Omit<RateLimitStoreRequest, 'cost'>,
    costOf: (policy: RateLimitPolicy) => number,
    write: boolean,
  ): RateLimitStoreDecision {
    const nowMs = Math.floor(this.options.clock.now());
    const buckets = this.touch(clientId);
    const tiers: TierResult[] = [];
    const decided: DecidedPolicy[] = [];
    let allowed = true;
    for (const policy of policies) {
      const bucket = buckets.get(policy.name);
      const states = bucket && bucket.expiresAt > nowMs ? bucket.tiers : undefined;
      const cost = costOf(policy);
      const ttlMs = 2 * Math.max(0, ...policy.tiers.map((tier) => tier.windowMs));
      const entry: DecidedPolicy = {
        policy,
        states,
        cost,
        ttlMs,
        first: tiers.length,
        admits: true,
        next: new Map(),
        atMs: nowMs,
        horizonMs: Infinity,
        take: write && leaseToken !== undefined && cost > 0,
      };
      for (const tier of policy.tiers) {
        const verdict = ALGORITHMS[tier.algorithm].decide(states?.get(tier.name), tier, cost, nowMs, ttlMs);
        tiers.push(tierResult(policy, tier, verdict));
        if (!verdict.allowed) {
          entry.admits = false;
          continue;
        }
        entry.next.set(tier.name, verdict.next);
        entry.atMs = Math.max(entry.atMs, verdict.atMs);
        entry.horizonMs = Math.min(entry.horizonMs, verdict.horizonMs);
      }
      if (policy.concurrency) {
        const verdict = slotVerdict(this.liveSlots(clientId, policy.name, nowMs), policy.concurrency, entry.take);
        tiers.push(slotResult(policy, policy.concurrency, verdict));
        if (!verdict.allowed) entry.admits = false;
      }
      if (!entry.admits && !policy.shadow) allowed = false;
      decided.push(entry);
    }
    for (const entry of decided) {
      if (write && allowed && entry.admits) {
        if (entry.policy.tiers.length > 0) this.store(buckets, entry, nowMs);
        if (entry.take && entry.policy.concurrency) {
          this.takeSlot(clientId, entry.policy.name, leaseToken!, nowMs + entry.policy.concurrency.leaseMs);
        }
      } else if (entry.cost > 0) {
        // Not written: the tiers report their standing without this request's cost (a
        // rejecting tier already does), each keeping its own verdict.
        entry.policy.tiers.forEach((tier, t) => {
          const result = tiers[entry.first + t];
          if (!result.allowed) return;
          const standing = ALGORITHMS[tier.algorithm].decide(entry.states?.get(tier.name), tier, 0, nowMs, entry.ttlMs);
          result.remaining = standing.remaining;
          result.resetMs = standing.resetMs;
        });
        // An admitting concurrency tier: the slots left without this request's.
        const slot = tiers[entry.first + entry.policy.tiers.length];
        if (entry.take && slot?.kind === 'concurrency' && slot.allowed) slot.remaining += 1;
      }
    }
    if (buckets.size === 0) this.clients.delete(clientId);
    return { allowed, nowMs, tiers };
  }

  /**
   * Writes a policy's new tier states. The bucket lives its ttl past the latest instant its
   * tiers stand at, and is gone before a window tier's index could be misread (as in Redis).
   */
  private store(buckets: Map<string, PolicyBucket>, entry: DecidedPolicy, nowMs: number): void {
    const expiresAt = Math.min(entry.atMs + entry.ttlMs, entry.horizonMs - 1);
    const bucket = buckets.get(entry.policy.name);
    if (bucket && bucket.expiresAt > nowMs) {
      for (const [tier, state] of entry.next) bucket.tiers.set(tier, state);
      bucket.expiresAt = expiresAt;
    } else {
      buckets.set(entry.policy.name, { tiers: entry.next, expiresAt });
    }
  }

  /** The client's slots in a policy whose lease has not ended (expired ones are dropped on the next write or sweep). */
  private liveSlots(clientId: string, policy: string, nowMs: number): number {
    let live = 0;
    for (const endsAt of this.slots.get(clientId)?.get(policy)?.values() ?? []) if (endsAt > nowMs) live++;
    return live;
  }

  /** Adds a lease token to a client's slots in a policy, dropping the leases that ended. */
  private takeSlot(clientId: string, policy: string, token: string, endsAt: number): void {
    const slots = this.slots.get(clientId) ?? new Map<string, Map<string, number>>();
    this.slots.set(clientId, slots);
    let held = slots.get(policy);
    if (!held) slots.set(policy, (held = new Map()));
    const nowMs = this.options.clock.now();
    for (const [other, otherEndsAt] of held) if (otherEndsAt <= nowMs) held.delete(other);
    held.set(token, endsAt);
  }

  /** The client's buckets, marked most recently used; evicts the least recent beyond the cap. */
  private touch(clientId: string): Map<string, PolicyBucket> {
    const buckets = this.clients.get(clientId) ?? new Map<string, PolicyBucket>();
    this.clients.set(clientId, buckets);
    return buckets;
  }
}
