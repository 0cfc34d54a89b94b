import { HttpException, HttpStatus } from '@nestjs/common';

/** The 429 body, byte for byte as documented. */
export interface RateLimitExceededBody {
  /** Always `Rate limit exceeded`. */
  error: 'Rate limit exceeded';
  /** Always `Too many requests. Please try again later.` */
  message: 'Too many requests. Please try again later.';
  /** Unix seconds when the limiting tier resets. */
  reset_time: number;
  /** Seconds to wait, equal to the `Retry-After` header. */
  retry_after: number;
}

/** A rejected request: 429 with the documented body (headers are set by the guard). */
export class RateLimitExceededException extends HttpException {
  /**
   * Builds the 429 body.
   *
   * @param resetTime Unix seconds when the limiting tier resets (`reset_time`).
   * @param retryAfter Seconds to wait (`retry_after`), the value of `Retry-After`.
   */
  constructor(resetTime: number, retryAfter: number) {
    const body: RateLimitExceededBody = {
      error: 'Rate limit exceeded',
      message: 'Too many requests. Please try again later.',
      reset_time: resetTime,
      retry_after: retryAfter,
    };
    super(body, HttpStatus.TOO_MANY_REQUESTS);
  }
}

/** Redis is unavailable and the module is configured to fail closed: 503. */
export class RateLimitUnavailableException extends HttpException {
  /** Builds the 503 with the body `{ error: 'Service unavailable', message }`. */
  constructor() {
    super(
      { error: 'Service unavailable', message: 'Rate limiting is temporarily unavailable. Please try again later.' },
      HttpStatus.SERVICE_UNAVAILABLE,
    );
  }
}
