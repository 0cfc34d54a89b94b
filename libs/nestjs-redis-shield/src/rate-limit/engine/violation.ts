/**
 * One rejected request (or a shadow policy's would-be rejection), as the recorder sees it
 * and the `ratelimit.violation` event carries it. Nothing in it is a raw id.
 */
export interface Violation {
  /** The client kind and its HMAC as in its keys: `ip:<22 chars>` or `user:<22 chars>`. */
  client: string;
  /** Policy and tier that rejected it (the most restrictive rejecting tier). */
  policy: string;
  /** The name of that tier. */
  tier: string;
  /** The route template (`/api/v1/models/:id`), or `unknown`. */
  route: string;
  /** When it was decided, in ms since the epoch (the limiter's clock: Redis `TIME` by default). */
  atMs: number;
  /**
   * A shadow policy's would-be rejection: the request was not refused by it (shadow
   * policies count and report, never reject). False for real rejections.
   */
  shadow: boolean;
}

/**
 * The violations of one client under one (policy, tier, route, shadow) within one flush
 * interval of one instance, as one stream entry and one entry of the system API: however
 * many requests a client has rejected, it adds one entry per interval, so it cannot push
 * other clients' violations out of the capped stream.
 */
export interface ViolationRecord extends Violation {
  /** When the last of them was decided, in ms since the epoch (same clock as `firstAtMs`). */
  atMs: number;
  /** When the first of them was decided, in ms since the epoch. */
  firstAtMs: number;
  /** How many violations the entry stands for (at least 1). */
  count: number;
}

/** Options of the violation stream and log (`RateLimitModuleOptions.violations`). */
export interface ViolationOptions {
  /** Append violations to the capped Redis stream. Default true. */
  stream?: boolean;
  /** Most entries the stream keeps (oldest trimmed first). Default 10 000. */
  maxLength?: number;
  /** How often the buffer is flushed to the stream, in ms. Default 1000. */
  flushIntervalMs?: number;
  /**
   * Most entries held in process between flushes: distinct (client, policy, tier, route,
   * shadow) of the interval, each with its count. Violations of a new one beyond it are
   * dropped and counted; those of one already held are always counted. Default 10 000.
   */
  maxBuffered?: number;
  /** Fraction of violations kept for the stream, 0 < rate ≤ 1. Default 1 (no sampling). */
  sampleRate?: number;
  /**
   * Log lines: at most `lines` violations one by one per `intervalMs`, then one summary
   * line with the count of the rest (and of drops). Default `{ lines: 5, intervalMs: 10_000 }`;
   * `false` logs none.
   */
  log?:
    | {
        /** Violations logged one by one per interval. Default 5. */
        lines?: number;
        /** The interval, in ms. Default 10 000. */
        intervalMs?: number;
      }
    | false;
}

/** The options with every default applied. */
export interface ResolvedViolationOptions {
  /** Whether violations are appended to the Redis stream. */
  stream: boolean;
  /** Most entries the stream keeps. */
  maxLength: number;
  /** How often the buffer is flushed to the stream, in ms. */
  flushIntervalMs: number;
  /** Most entries (distinct client, policy, tier, route, shadow) held in process between flushes. */
  maxBuffered: number;
  /** Fraction of violations kept for the stream (1 = all). */
  sampleRate: number;
  /** Log lines per interval, or `false` for none. */
  log:
    | {
        /** Violations logged one by one per interval. */
        lines: number;
        /** The interval, in ms. */
        intervalMs: number;
      }
    | false;
}
