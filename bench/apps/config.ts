/** One rate-limit tier, the same for every limiter under test. */
export interface BenchTier {
  name: string;
  limit: number;
  /** Window length, in ms. */
  windowMs: number;
}

/**
 * What one bench app process runs, passed by the driver (bench/bench.mjs) as JSON in the
 * `BENCH_APP` environment variable.
 */
export interface BenchAppConfig {
  /** `redis://127.0.0.1:<port>`: the bench's own Redis, or the counting proxy in front of it. */
  redisUrl: string;
  /**
   * The HTTP adapter: Express (default, `trust proxy` on) or Fastify (`trustProxy: true`,
   * its equivalent), so every library is measured where a fixed cost per request weighs more too.
   */
  adapter?: 'express' | 'fastify';
  /**
   * Which rate limiter guards `GET /ping`, if any. `floor`: no limiter, a guard that only
   * sends one script call of three Redis commands per request (what one round trip costs).
   */
  limiter?: 'shield' | 'throttler' | 'rlf' | 'floor';
  /** Which response cache serves `GET /ping`, if any. */
  cache?: 'shield' | 'cache-manager';
  /** nestjs-redis-shield cache: the in-process L1 (default on, as in the library); false: every hit reads Redis. */
  l1?: boolean;
  /** nestjs-redis-shield cache: hits answered at the route, before Nest's pipeline (`fastPath`, default on as in the library). */
  fastPath?: boolean;
  /**
   * nestjs-redis-shield cache: `/ping` with a 1 ms TTL and an hour of stale-while-revalidate,
   * so nearly every request is a STALE answer while one background refresh at a time
   * replaces the entry: from Redis, or from the L1 while this instance refreshes it.
   */
  stale?: boolean;
  /** A global interceptor that only calls the handler: the cost of Nest's interceptor pipeline alone. */
  noopInterceptor?: boolean;
  /** nestjs-redis-shield: a concurrency tier of this many requests in flight per client besides the rate tiers. */
  concurrency?: number;
  /** The limiter's tiers (all three libraries get the same ones). */
  tiers: BenchTier[];
  /** nestjs-redis-shield: import ShieldMetricsModule (Prometheus metrics). */
  metrics?: boolean;
  /** nestjs-redis-shield: the violation stream and log lines (default on, as in the library). */
  violations?: boolean;
  /** nestjs-redis-shield: the local block cache (`localBlockCache`; default on, as in the library). */
  blockCache?: boolean;
  /** nestjs-redis-shield and the floor: ioredis `enableAutoPipelining` (unset: the library's default; the floor: off). */
  autoPipelining?: boolean;
  /** rate-limiter-flexible: `inMemoryBlockOnConsumed` (its own local block), off by default. */
  rlfInMemoryBlock?: boolean;
}

/** Counters an app reports to the driver (IPC `stats`). */
export interface BenchAppStats {
  /** `process.cpuUsage()` of the app process, in µs. */
  cpu: NodeJS.CpuUsage;
  /** How many times the `/ping` handler ran (a cache hit does not run it). */
  handlerCalls: number;
  /** Anything that would make the figures wrong: Redis down, fallback decisions, open circuit. */
  problems: string[];
}
