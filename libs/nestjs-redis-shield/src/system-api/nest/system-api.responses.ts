import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** `{"deleted": n}` of the cache deletion endpoints. */
export class DeletedResponse {
  /** Cache entries removed (entries, not index keys). */
  @ApiProperty({ description: 'Cache entries removed', example: 3 })
  deleted: number;
}

/** `{"reset": true}` of the client reset endpoint. */
export class ResetResponse {
  /** Always true. */
  @ApiProperty({ example: true })
  reset: boolean;
}

/** The error body of the system API's 401/403 answers. */
export class SystemErrorResponse {
  /** What went wrong, e.g. `admin endpoints disabled`. */
  @ApiProperty({ example: 'admin endpoints disabled' })
  error: string;
}

/** The 429 body, exactly as sent. */
export class RateLimitExceededResponse {
  /** Always `Rate limit exceeded`. */
  @ApiProperty({ example: 'Rate limit exceeded' })
  error: string;

  /** Always `Too many requests. Please try again later.` */
  @ApiProperty({ example: 'Too many requests. Please try again later.' })
  message: string;

  /** Unix seconds when the limiting tier resets. */
  @ApiProperty({ description: 'Unix seconds when the limiting tier resets', example: 1767225607 })
  reset_time: number;

  /** Seconds to wait; equals the `Retry-After` header. */
  @ApiProperty({ description: 'Seconds to wait; equals the Retry-After header', example: 7 })
  retry_after: number;
}

/** TTL statistics over a sample of entries, in seconds. */
export class TtlSample {
  /** Shortest remaining TTL, in seconds. */
  @ApiProperty() min: number;
  /** Median remaining TTL, in seconds. */
  @ApiProperty() median: number;
  /** Longest remaining TTL, in seconds. */
  @ApiProperty() max: number;
}

/** Stale entries served, by reason, in `GET /system/cache/stats`. */
export class StaleServes {
  /** Served within their stale-while-revalidate window (a background refresh followed). */
  @ApiProperty({ description: 'Within the stale-while-revalidate window' }) revalidate: number;
  /** Served because recomputing failed (stale-if-error). */
  @ApiProperty({ description: 'Because recomputing failed (stale-if-error)' }) error: number;
}

/** Misses that waited on another instance's lease, by how the wait ended, in `GET /system/cache/stats`. */
export class LeaseWaits {
  /** The other instance's entry arrived. */
  @ApiProperty({ description: "The other instance's entry arrived" }) filled: number;
  /** The follower timeout passed; the waiter ran the handler itself. */
  @ApiProperty({ description: 'The follower timeout passed; the waiter ran the handler' }) timeout: number;
  /** The lease became free; the waiter ran the handler as the new leader. */
  @ApiProperty({ description: 'The lease became free; the waiter led' }) leader: number;
}

/** Background refreshes, by outcome, in `GET /system/cache/stats`. */
export class BackgroundRefreshes {
  /** A fresh entry was stored. */
  @ApiProperty({ description: 'A fresh entry was stored' }) stored: number;
  /** The handler or the write failed; the stale entry stayed. */
  @ApiProperty({ description: 'The handler or the write failed' }) failed: number;
}

/** The answering instance's bus delivery lag, in ms, in `GET /system/cache/stats`. */
export class BusLag {
  /** The latest message's lag, in ms; null before the first. */
  @ApiProperty({ type: Number, nullable: true, description: "The latest message's lag, ms" }) last: number | null;
  /** The largest lag since the instance started, in ms; null before the first. */
  @ApiProperty({ type: Number, nullable: true, description: 'The largest lag since start-up, ms' }) max: number | null;
  /** Messages measured. */
  @ApiProperty({ description: 'Messages measured' }) measured: number;
}

/** `GET /system/cache/stats`. */
export class CacheStatsResponse {
  /** Lookups answered from the cache, summed over every instance: `l1_hits + l2_hits`. */
  @ApiProperty({ description: 'Lookups answered from the cache, all instances (l1_hits + l2_hits)' }) hits: number;
  /** Hits answered from an instance's in-process L1, summed over every instance. */
  @ApiProperty({ description: "Hits answered from an instance's in-process L1, all instances" }) l1_hits: number;
  /** Hits answered from Redis, summed over every instance. */
  @ApiProperty({ description: 'Hits answered from Redis, all instances' }) l2_hits: number;
  /** Lookups that ran the handler, summed over every instance. */
  @ApiProperty({ description: 'Lookups that ran the handler, all instances' }) misses: number;
  /** `hits / (hits + misses)`; 0 before any lookup. */
  @ApiProperty({ description: 'hits / (hits + misses)' }) hit_ratio: number;
  /** Approximate live entries, counted from the route indexes. */
  @ApiProperty({ description: 'Approximate live entries (from the indexes)' }) entries: number;
  /** Redis `used_memory` summed over every master, in bytes (the whole Redis, not only the cache). */
  @ApiProperty({ description: 'Redis used_memory, all masters, bytes' }) memory_used_bytes: number;
  /** Stale entries served, by reason, summed over every instance. */
  @ApiProperty({ type: StaleServes, description: 'Stale entries served, all instances' }) stale: StaleServes;
  /** Misses that waited on another instance's lease, by outcome, summed over every instance. */
  @ApiProperty({ type: LeaseWaits, description: "Misses that waited on another instance's lease, all instances" })
  lease_waits: LeaseWaits;
  /** Background refreshes after a stale-while-revalidate serve, by outcome, summed over every instance. */
  @ApiProperty({ type: BackgroundRefreshes, description: 'Background refreshes, all instances' })
  refreshes: BackgroundRefreshes;
  /** Delivery lag of the instance bus messages received by the instance that answered; null without a bus. */
  @ApiPropertyOptional({
    type: BusLag,
    nullable: true,
    description: 'Instance bus delivery lag on the instance that answered (not summed), ms; null without a bus',
  })
  bus_lag_ms: BusLag | null;
  /** Remaining TTLs over a sample of at most 1 000 entries; null when there is none. */
  @ApiPropertyOptional({ type: TtlSample, nullable: true }) ttl_seconds: TtlSample | null;
  /** When the answer was built (ISO-8601 with ms). */
  @ApiProperty({ format: 'date-time' }) generated_at: string;
}

/** One tier in `GET /system/rate-limit/status`. */
export class TierStatus {
  /** The policy's name. */
  @ApiProperty({ example: 'default' }) policy: string;
  /** The tier's name. */
  @ApiProperty({ example: 'minute' }) tier: string;
  /** Units allowed per window. */
  @ApiProperty({ example: 60 }) limit: number;
  /** Units left now (this request consumed nothing). */
  @ApiProperty({ example: 45 }) remaining: number;
  /** The tier's window, in seconds (rounded up). */
  @ApiProperty({ example: 60 }) window_seconds: number;
  /** Unix seconds when the tier's quota is fully restored. */
  @ApiProperty({ description: 'Unix seconds of the reset' }) reset: number;
  /** Seconds until that reset (rounded up; 0 when nothing is counted). */
  @ApiProperty() reset_in_seconds: number;
}

/** `GET /system/rate-limit/status`. */
export class RateLimitStatusResponse {
  /** How the caller is identified: `user` or `ip` (never the id itself). */
  @ApiProperty({ enum: ['user', 'ip'], description: 'How the caller is identified (never the id itself)' })
  client: string;

  /**
   * True while Redis is unavailable: the tiers are this instance's fallback standing, not
   * the shared one.
   */
  @ApiProperty({ description: "True while Redis is unavailable: the tiers are this instance's fallback standing" })
  degraded: boolean;

  /** Every enforced tier of every policy that applies to the caller (shadow policies left out). */
  @ApiProperty({ type: [TierStatus] })
  tiers: TierStatus[];

  /** When the answer was built (ISO-8601 with ms). */
  @ApiProperty({ format: 'date-time' })
  generated_at: string;
}

/**
 * One entry of `GET /system/rate-limit/violations`: the violations of one client under one
 * policy, tier, route and shadow flag within one flush interval of one instance.
 */
export class ViolationEntry {
  /** When the last of them was rejected (ISO-8601). */
  @ApiProperty({ format: 'date-time', description: 'When the last of these requests was rejected' }) at: string;
  /** The same time, in Unix milliseconds. */
  @ApiProperty({ description: 'The same time in Unix milliseconds' }) timestamp: number;
  /** When the first of them was rejected (ISO-8601). */
  @ApiProperty({ format: 'date-time', description: 'When the first of these requests was rejected' })
  first_at: string;
  /** The same time, in Unix milliseconds. */
  @ApiProperty({ description: 'The same time in Unix milliseconds' }) first_timestamp: number;
  /** How many requests the entry stands for (at least 1). */
  @ApiProperty({ example: 1, minimum: 1, description: 'How many requests were rejected (at least 1)' })
  count: number;
  /** The client kind and its HMAC, e.g. `ip:Qm9vWmhmUk1mN0ZkR2xw` (never the raw id). */
  @ApiProperty({ example: 'ip:Qm9vWmhmUk1mN0ZkR2xw', description: 'Client kind and its HMAC (never the raw id)' })
  client: string;
  /** The policy of the rejecting tier. */
  @ApiProperty({ example: 'default' }) policy: string;
  /** The rejecting tier. */
  @ApiProperty({ example: 'burst' }) tier: string;
  /** The route template (`/api/v1/models/:id`), or `unknown`. */
  @ApiProperty({ example: '/api/v1/models/:id', description: 'Route template' }) route: string;
  /** True for a shadow policy's would-be rejections (the requests were not refused by it). */
  @ApiProperty({ example: false, description: "A shadow policy's would-be rejections (not enforced)" })
  shadow: boolean;
}

/** `GET /system/rate-limit/violations`: newest first. */
export class ViolationsResponse {
  /** The violations, newest first. */
  @ApiProperty({ type: [ViolationEntry] }) violations: ViolationEntry[];
  /** When the answer was built (ISO-8601 with ms). */
  @ApiProperty({ format: 'date-time' }) generated_at: string;
}
