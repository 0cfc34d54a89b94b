import { type ArgumentsHost, Catch, type ExceptionFilter, HttpStatus } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { RedisCommandError, RedisUnavailableError } from '../../redis/engine/redis.errors.js';

/** The body of a system endpoint that needed Redis while it failed. */
export const REDIS_UNAVAILABLE_BODY = { error: 'redis unavailable' } as const;

/**
 * Answers a system endpoint whose Redis call failed (unreachable, stalled past its
 * budget, the breaker open, or a refused command such as `OOM`) with 503
 * `{"error":"redis unavailable"}`, never a 500 and never a stack trace in the log: the
 * connection already logs the outage, once when it starts and once when it ends.
 */
@Catch(RedisUnavailableError, RedisCommandError)
export class RedisUnavailableFilter implements ExceptionFilter {
  /** @internal Instantiated by Nest for the system controllers. */
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(_error: RedisUnavailableError | RedisCommandError, host: ArgumentsHost): void {
    const { httpAdapter } = this.adapterHost;
    httpAdapter.reply(host.switchToHttp().getResponse(), { ...REDIS_UNAVAILABLE_BODY }, HttpStatus.SERVICE_UNAVAILABLE);
  }
}
