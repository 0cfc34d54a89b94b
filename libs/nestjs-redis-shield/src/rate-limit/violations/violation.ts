/** One rejected request, as the stream and the system API keep it. Nothing in it is a raw id. */
export interface Violation {
  /** The client kind and its HMAC as in its keys: `ip:<22 chars>` or `user:<22 chars>`. */
  client: string;
  /** Policy and tier that rejected it (the most restrictive rejecting tier). */
  policy: string;
  tier: string;
  /** The route template (`/api/v1/models/:id`), or `unknown`. */
  route: string;
  /** When it was decided, in ms since the epoch (the limiter's clock: Redis `TIME` by default). */
  atMs: number;
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
  log?: { lines?: number; intervalMs?: number } | false;
}

/** The options with every default applied. */
export interface ResolvedViolationOptions {
  stream: boolean;
  maxLength: number;
  flushIntervalMs: number;
  maxBuffered: number;
  sampleRate: number;
  log: { lines: number; intervalMs: number } | false;
}
