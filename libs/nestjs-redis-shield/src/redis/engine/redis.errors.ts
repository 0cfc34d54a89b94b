import { ERROR_CODES, messages, type ShieldErrorCode } from '../../core/errors.js';

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
  /** Always `'SHIELD_E005'` (see the README's error codes). */
  readonly code: ShieldErrorCode = ERROR_CODES.redisUnavailable;

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
    super(messages.redisUnavailable(connection, reason), options);
  }
}

/**
 * Redis answered with an error (`OOM`, `WRONGTYPE`, a script error). The server is
 * reachable, so this never trips the circuit breaker.
 */
export class RedisCommandError extends Error {
  /** Always `'RedisCommandError'`. */
  override readonly name = 'RedisCommandError';
  /** Always `'SHIELD_E006'` (see the README's error codes). */
  readonly code: ShieldErrorCode = ERROR_CODES.redisCommandFailed;

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
    super(messages.redisCommandFailed(connection, options.cause), options);
  }
}

/** A value stored under `key` is not valid JSON, or a value to store cannot be serialised. */
export class RedisJsonError extends Error {
  /** Always `'RedisJsonError'`. */
  override readonly name = 'RedisJsonError';
  /** `'SHIELD_E007'` for `parse`, `'SHIELD_E008'` for `serialise` (see the README's error codes). */
  readonly code: ShieldErrorCode;

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
    const kind = operation === 'parse' ? 'redisJsonParse' : 'redisJsonSerialise';
    super(messages[kind](key, options.cause), options);
    this.code = ERROR_CODES[kind];
  }
}
