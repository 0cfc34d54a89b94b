import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** `{"deleted": n}` of the cache deletion endpoints. */
export class DeletedResponse {
  @ApiProperty({ description: 'Cache entries removed', example: 3 })
  deleted: number;
}

/** `{"reset": true}` of the client reset endpoint. */
export class ResetResponse {
  @ApiProperty({ example: true })
  reset: boolean;
}

/** The error body of the system API's 401/403 answers. */
export class SystemErrorResponse {
  @ApiProperty({ example: 'admin endpoints disabled' })
  error: string;
}

/** The 429 body, exactly as sent (SPEC §5). */
export class RateLimitExceededResponse {
  @ApiProperty({ example: 'Rate limit exceeded' })
  error: string;

  @ApiProperty({ example: 'Too many requests. Please try again later.' })
  message: string;

  @ApiProperty({ description: 'Unix seconds when the limiting tier resets', example: 1767225607 })
  reset_time: number;

  @ApiProperty({ description: 'Seconds to wait; equals the Retry-After header', example: 7 })
  retry_after: number;
}

/** TTL statistics over a sample of entries, in seconds. */
export class TtlSample {
  @ApiProperty() min: number;
  @ApiProperty() median: number;
  @ApiProperty() max: number;
}

/** `GET /system/cache/stats`. */
export class CacheStatsResponse {
  @ApiProperty({ description: 'Lookups answered from the cache, all instances' }) hits: number;
  @ApiProperty({ description: 'Lookups that ran the handler, all instances' }) misses: number;
  @ApiProperty({ description: 'hits / (hits + misses)' }) hit_ratio: number;
  @ApiProperty({ description: 'Approximate live entries (from the indexes)' }) entries: number;
  @ApiProperty({ description: 'Redis used_memory, all masters, bytes' }) memory_used_bytes: number;
  @ApiPropertyOptional({ type: TtlSample, nullable: true }) ttl_seconds: TtlSample | null;
  @ApiProperty({ format: 'date-time' }) generated_at: string;
}

/** One tier in `GET /system/rate-limit/status`. */
export class TierStatus {
  @ApiProperty({ example: 'default' }) policy: string;
  @ApiProperty({ example: 'minute' }) tier: string;
  @ApiProperty({ example: 60 }) limit: number;
  @ApiProperty({ example: 45 }) remaining: number;
  @ApiProperty({ example: 60 }) window_seconds: number;
  @ApiProperty({ description: 'Unix seconds of the reset' }) reset: number;
  @ApiProperty() reset_in_seconds: number;
}

/** `GET /system/rate-limit/status`. */
export class RateLimitStatusResponse {
  @ApiProperty({ enum: ['user', 'ip'], description: 'How the caller is identified (never the id itself)' })
  client: string;

  @ApiProperty({ type: [TierStatus] })
  tiers: TierStatus[];

  @ApiProperty({ format: 'date-time' })
  generated_at: string;
}

/** One entry of `GET /system/rate-limit/violations`. */
export class ViolationEntry {
  @ApiProperty({ format: 'date-time', description: 'When the request was rejected' }) at: string;
  @ApiProperty({ description: 'The same time in Unix milliseconds' }) timestamp: number;
  @ApiProperty({ example: 'ip:Qm9vWmhmUk1mN0ZkR2xw', description: 'Client kind and its HMAC (never the raw id)' })
  client: string;
  @ApiProperty({ example: 'default' }) policy: string;
  @ApiProperty({ example: 'burst' }) tier: string;
  @ApiProperty({ example: '/api/v1/models/:id', description: 'Route template' }) route: string;
}

/** `GET /system/rate-limit/violations`: newest first. */
export class ViolationsResponse {
  @ApiProperty({ type: [ViolationEntry] }) violations: ViolationEntry[];
  @ApiProperty({ format: 'date-time' }) generated_at: string;
}
