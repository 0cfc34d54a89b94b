/** One rejected request, as the stream and the system API keep it. Nothing in it is a raw id. */
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

/** Options of the violation stream and log (`RateLimitModuleOptions.violations`). */
export interface ViolationOptions {
  /** Append violations to the capped Redis stream. Default true. */
  stream?: boolean;
  /** Most entries the stream keeps (oldest trimmed first). Default 10 000. */
  maxLength?: number;
  /** How often the buffer is flushed to the stream, in ms. Default 1000. */
  flushIntervalMs?: number;
  /** Most violations held in process between flushes; beyond it they are dropped and counted. Default 10 000. */
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
  /** Most violations held in process between flushes. */
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
