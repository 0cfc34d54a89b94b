import type { ConcurrencyTier } from './rate-limit.types.js';

/**
 * How long a slot is held at most by default: 60 s. A slot is released when its response
 * finishes or its connection closes; the lease only matters when the instance holding it
 * dies (SIGKILL, OOM, a lost network) and cannot release it. Requests that run longer than
 * their lease stop counting once it ends: set `leaseMs` above the route's longest request.
 */
export const DEFAULT_LEASE_MS = 60_000;

/** The longest lease, 1 day in ms. */
export const MAX_LEASE_MS = 86_400_000;

/** The most requests in flight a concurrency tier may allow, 10^6. */
export const MAX_CONCURRENCY_LIMIT = 1_000_000;

/**
 * The wait a concurrency rejection asks for (ms): 1 s, so `Retry-After: 1`. A slot frees
 * when any of the client's requests finishes, which no store can foresee; a short wait
 * is the honest answer.
 */
export const CONCURRENCY_RETRY_MS = 1000;

/** A concurrency tier's outcome, shaped like a rate tier's (see `TierVerdict`), all ms. */
export interface SlotVerdict {
  /** Whether the request may take a slot (always true when it takes none). */
  allowed: boolean;
  /** Slots left after this request took one; when it took none (or was rejected), before it. */
  remaining: number;
  /** 0 when admitted; {@link CONCURRENCY_RETRY_MS} when rejected. */
  resetMs: number;
  /** 0 when admitted; {@link CONCURRENCY_RETRY_MS} when rejected. */
  retryAfterMs: number;
}

/**
 * Decides a concurrency tier from the client's live slots (leases not yet expired). A
 * request that takes a slot (`take`: a consume with a lease token and a cost above 0) is
 * admitted while fewer than `limit` are held; one that takes none (a peek, a call without a
 * token) only reports the standing and never rejects, as a cost-0 rate tier does. The Lua
 * twin in `store/lua/concurrency.lua.ts` does the same.
 */
export function slotVerdict(inflight: number, tier: Pick<ConcurrencyTier, 'limit'>, take: boolean): SlotVerdict {
  const free = Math.max(0, tier.limit - inflight);
  if (!take) return { allowed: true, remaining: free, resetMs: 0, retryAfterMs: 0 };
  if (free > 0) return { allowed: true, remaining: free - 1, resetMs: 0, retryAfterMs: 0 };
  return { allowed: false, remaining: 0, resetMs: CONCURRENCY_RETRY_MS, retryAfterMs: CONCURRENCY_RETRY_MS };
}

/**
 * Lease tokens of one instance: a random prefix and a counter, unique across instances and
 * short in the slots' ZSET (no `randomUUID` per request).
 */
export class LeaseTokens {
  private next = 0;

  /** @param prefix Unique per instance (e.g. 12 random bytes, base64url). */
  constructor(private readonly prefix: string) {}

  /** A token no other request of any instance holds. */
  take(): string {
    this.next = (this.next + 1) % Number.MAX_SAFE_INTEGER;
    return `${this.prefix}:${this.next.toString(36)}`;
  }
}
