import type { Deadline } from '../../core/deadline.js';
import type { RateLimitPolicy, TierResult } from '../engine/rate-limit.types.js';

/** Everything a store needs to decide one request in one atomic step. */
export interface RateLimitStoreRequest {
  /** The client id, e.g. `user:42` or `ip:203.0.113.7` (hashed by the store before use in keys). */
  clientId: string;
  /** Every policy the request is checked against; all their tiers decide together. */
  policies: readonly RateLimitPolicy[];
  /** Units this request costs (integer ≥ 1) in every policy not listed in `policyCosts`. */
  cost: number;
  /**
   * Units this request costs in some policies (policy name → integer ≥ 0; 0 checks the
   * policy without charging it). Policies not listed cost `cost`.
   */
  policyCosts?: Readonly<Record<string, number>>;
  /** The request's Redis deadline, when there is a request. */
  deadline?: Deadline;
  /**
   * The request's lease token (unique across instances). With it, an admitted `consume`
   * takes a slot in every concurrency tier of its policies (a policy it costs 0 in aside),
   * held until {@link RateLimitStore.release} with the same token or the tier's lease ends.
   * Without it concurrency tiers are reported but take nothing and never reject.
   */
  leaseToken?: string;
}

/** A store's raw decision; the service summarises it into a `RateLimitResult`. */
export interface RateLimitStoreDecision {
  /** Whether every enforced (non-shadow) tier admitted; when false nothing was counted. */
  allowed: boolean;
  /** The clock reading the decision used, in ms since the epoch. */
  nowMs: number;
  /** One result per tier of every policy, in policy then tier order. */
  tiers: TierResult[];
}

/**
 * Where counters live. `consume` decides all tiers of all policies and counts them
 * atomically (all-or-nothing); `peek` decides without counting; `reset` forgets a
 * client. A store that cannot reach its backend throws (never answers a denial).
 */
export interface RateLimitStore {
  /**
   * Decides the request's cost (per policy: its `policyCosts` entry, else `cost`) against
   * every tier and counts it only if all enforced tiers admit. Tiers whose policy is not
   * written report their standing without the cost. Throws when the backend fails.
   */
  consume(request: RateLimitStoreRequest): Promise<RateLimitStoreDecision>;
  /** Reports every tier's standing without counting anything. Throws when the backend fails. */
  peek(request: Omit<RateLimitStoreRequest, 'cost'>): Promise<RateLimitStoreDecision>;
  /** Forgets the client's counters (and slots) of the given policies. Throws when the backend fails. */
  reset(clientId: string, policies: readonly RateLimitPolicy[], options?: { deadline?: Deadline }): Promise<void>;
  /**
   * Frees the slots a `consume` with `leaseToken` took in the concurrency tiers of
   * `policies` (a slot already expired or never taken is no error). A store without it
   * takes no slots: leave concurrency tiers out of its policies. Throws when the backend fails.
   */
  release?(clientId: string, policies: readonly RateLimitPolicy[], leaseToken: string): Promise<void>;
  /**
   * Forgets the counters of the client whose HMAC (as in the violation stream) is `hash`;
   * optional: a store that keys clients its own way leaves it out, and then clients are
   * reset by their raw id only. Throws when the backend fails.
   */
  resetHashed?(hash: string, policies: readonly RateLimitPolicy[], options?: { deadline?: Deadline }): Promise<void>;
}

/** Injection token of the active {@link RateLimitStore} (same name as the interface). */
export const RateLimitStore = Symbol('RateLimitStore');

/** What `request` costs in `policy`: its entry in `policyCosts`, else `cost`. */
export function policyCost(request: RateLimitStoreRequest, policy: RateLimitPolicy): number {
  const costs = request.policyCosts;
  return costs !== undefined && Object.hasOwn(costs, policy.name) ? costs[policy.name] : request.cost;
}
