import type { ViolationRecord } from '../../rate-limit/engine/violation.js';
import type { CacheLayer, DecisionCount, RouteCount } from './dashboard-counts.js';

/** How far back the top rejected clients look, in ms. */
export const TOP_REJECTED_WINDOW_MS = 10 * 60_000;
/** How many rejected clients the dashboard lists. */
export const TOP_REJECTED_LIMIT = 10;
/** An instance whose last heartbeat is older than this is no longer listed as alive, in ms. */
export const INSTANCE_ALIVE_MS = 30_000;

/** One client of the top rejected list: never a raw id, only its kind and HMAC. */
export interface RejectedClient {
  /** `ip:<hmac>` or `user:<hmac>`, as the violations list shows it. */
  client: string;
  /** The HMAC alone, for `DELETE /system/rate-limit/clients/hmac:<hmac>`. */
  hash: string;
  /** Rejected requests in the window. */
  rejected: number;
  /** When the last of them was decided (ISO-8601). */
  last_at: string;
}

/** One Redis connection as the dashboard shows it. */
export interface ConnectionRow {
  name: string;
  /** `ready`, or `down` (unreachable, or the breaker open). */
  state: 'ready' | 'down';
  /** The circuit breaker: `open` skips Redis. */
  breaker: 'open' | 'closed';
  /** PING round trip in ms; null when Redis did not answer. */
  latency_ms: number | null;
  /** Since when it has been unreachable (ISO-8601), null while reachable. */
  down_since: string | null;
}

/** The JSON of `GET system/dashboard/data`. Sections that need Redis are null while it is unreachable. */
export interface DashboardData {
  generated_at: string;
  /** True when some part could not be read (Redis unreachable): the page says so in words. */
  degraded: boolean;
  /** Since when Redis has been unreachable (ISO-8601), null while it answers. */
  redis_unreachable_since: string | null;
  /** The id of the instance that answered. */
  instance_id: string;
  /** Instances whose heartbeat is recent (this one always), newest first. */
  instances: { id: string; last_seen: string; current: boolean }[];
  /** Decisions by policy and tier since the counts began, over every instance; null when unreadable. */
  decisions: DecisionCount[] | null;
  /** Cache lookups by layer and by route template; null when unreadable. */
  cache: { layers: Record<CacheLayer, number>; hit_ratio: number | null; routes: RouteCount[] } | null;
  /** The most rejected clients of the last {@link TOP_REJECTED_WINDOW_MS}; null when unreadable. */
  top_rejected: RejectedClient[] | null;
  /** The window of `top_rejected`, in seconds. */
  top_rejected_window_seconds: number;
  connections: ConnectionRow[];
  /** Whether some rate limiter decides from its in-memory fallback now (Redis failing). */
  fallback_active: boolean;
  /** Each rate limiter: its connection, fail mode and whether its fallback decides now. */
  limiters: { connection: string; fail_mode: 'open' | 'closed'; fallback_active: boolean }[];
}

/**
 * The clients with the most real rejections (shadow ones left out) among `records`,
 * most first, at most `limit`. Records carry HMACs only, so the result does too.
 */
export function topRejected(records: readonly ViolationRecord[], limit = TOP_REJECTED_LIMIT): RejectedClient[] {
  const byClient = new Map<string, { rejected: number; lastMs: number }>();
  for (const record of records) {
    if (record.shadow) continue;
    const row = byClient.get(record.client) ?? { rejected: 0, lastMs: 0 };
    row.rejected += record.count;
    row.lastMs = Math.max(row.lastMs, record.atMs);
    byClient.set(record.client, row);
  }
  return [...byClient]
    .sort(([a, x], [b, y]) => y.rejected - x.rejected || y.lastMs - x.lastMs || (a < b ? -1 : 1))
    .slice(0, limit)
    .map(([client, { rejected, lastMs }]) => ({
      client,
      hash: client.slice(client.indexOf(':') + 1),
      rejected,
      last_at: new Date(lastMs).toISOString(),
    }));
}

/** Answered from the cache (L1, Redis or stale) over every lookup that was not bypassed; null before any. */
export function hitRatio(layers: Readonly<Record<CacheLayer, number>>): number | null {
  const hits = layers.l1 + layers.redis + layers.stale;
  const lookups = hits + layers.miss;
  return lookups === 0 ? null : hits / lookups;
}

/** The instances heard from within {@link INSTANCE_ALIVE_MS} of `nowMs`, newest first, this one always included. */
export function aliveInstances(
  heartbeats: Readonly<Record<string, number>>,
  current: string,
  nowMs: number,
): DashboardData['instances'] {
  const seen = { ...heartbeats, [current]: Math.max(heartbeats[current] ?? 0, nowMs) };
  return Object.entries(seen)
    .filter(([, seenMs]) => nowMs - seenMs <= INSTANCE_ALIVE_MS)
    .sort(([, a], [, b]) => b - a)
    .map(([id, seenMs]) => ({ id, last_seen: new Date(seenMs).toISOString(), current: id === current }));
}
