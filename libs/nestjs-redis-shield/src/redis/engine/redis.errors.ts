/**
 * Why Redis could not serve a call. `timeout`: the request's deadline passed;
 * `connection`: the client is not connected or the socket failed; `circuit-open`: the
 * breaker skipped Redis without trying.
 */
export type RedisUnavailableReason = 'timeout' | 'connection' | 'circuit-open';

/**
 * Redis could not be reached in time. Callers treat this as "Redis is down" (fail open
 * or closed by policy) and never as a rate-limit denial or a cache miss.
 */
export class RedisUnavailableError extends Error {
  /** Always `'RedisUnavailableError'`. */
  override readonly name = 'RedisUnavailableError';

  /**
   * Creates the error; the library raises it, applications normally only catch it.
   *
   * @param reason Why Redis could not serve the call.
   * @param connection The name of the Redis connection (`default` unless named).
   * @param options `cause`: the underlying error, if any.
   */
  constructor(
    readonly reason: RedisUnavailableReason,
    readonly connection: string,
    options?: { cause?: unknown },
  ) {
    super(`Redis connection '${connection}' unavailable: ${reason}`, options);
  }
}

/**
 * Redis answered with an error (`OOM`, `WRONGTYPE`, a script error). The server is
 * reachable, so this never trips the circuit breaker.
 */
export class RedisCommandError extends Error {
  /** Always `'RedisCommandError'`. */
  override readonly name = 'RedisCommandError';

  /**
   * Wraps an error reply of Redis.
   *
   * @param connection The name of the Redis connection that answered with the error.
   * @param options `cause`: the error reply as ioredis raised it.
   */
  constructor(
    readonly connection: string,
    options: { cause: unknown },
  ) {
    super(`Redis connection '${connection}' command failed: ${describe(options.cause)}`, options);
  }
}

/** A value stored under `key` is not valid JSON, or a value to store cannot be serialised. */
export class RedisJsonError extends Error {
  /** Always `'RedisJsonError'`. */
  override readonly name = 'RedisJsonError';

  /**
   * Wraps a JSON failure of `RedisService.getJson` or `setJson`.
   *
   * @param key The caller's key (without the namespace prefix).
   * @param operation `parse` when reading a stored value, `serialise` when writing one.
   * @param options `cause`: the error `JSON.parse` or `JSON.stringify` threw.
   */
  constructor(
    readonly key: string,
    readonly operation: 'parse' | 'serialise',
    options: { cause: unknown },
  ) {
    super(
      operation === 'parse'
        ? `Value at key '${key}' is not valid JSON: ${describe(options.cause)}`
        : `Value for key '${key}' cannot be serialised to JSON: ${describe(options.cause)}`,
      options,
    );
  }
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
