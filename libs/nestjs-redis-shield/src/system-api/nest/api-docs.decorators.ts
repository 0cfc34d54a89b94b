import { applyDecorators } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiForbiddenResponse,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { RateLimitExceededResponse, SystemErrorResponse } from './system-api.responses.js';

/**
 * The rate-limit response headers as OpenAPI header objects, for `@ApiResponse({ headers })`
 * of limited operations. Each value's `description` and `schema` are the OpenAPI fields.
 */
export const RATE_LIMIT_HEADERS = {
  /** The limit of the most restrictive tier. */
  'X-RateLimit-Limit': { description: 'Limit of the most restrictive tier', schema: { type: 'integer' } },
  /** Units left in that tier. */
  'X-RateLimit-Remaining': { description: 'Units left in that tier', schema: { type: 'integer' } },
  /** Unix seconds when that tier resets. */
  'X-RateLimit-Reset': { description: 'Unix seconds when that tier resets', schema: { type: 'integer' } },
  /** Available units (`r`) and effective window in seconds (`t`) of every tier (draft-ietf-httpapi-ratelimit-headers-11). */
  RateLimit: {
    description: 'draft-ietf-httpapi-ratelimit-headers-11, every tier: "name";r=<units>;t=<seconds>',
    schema: { type: 'string' },
  },
  /** Quota (`q`) and window in seconds (`w`) of every tier (draft-ietf-httpapi-ratelimit-headers-11). */
  'RateLimit-Policy': {
    description: 'draft-ietf-httpapi-ratelimit-headers-11, every tier: "name";q=<units>;w=<seconds>',
    schema: { type: 'string' },
  },
} as const;

/** The documented 429 of a rate-limited operation. */
export function ApiRateLimited(): MethodDecorator & ClassDecorator {
  return ApiTooManyRequestsResponse({
    description: 'Rate limit exceeded',
    type: RateLimitExceededResponse,
    headers: { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' } }, ...RATE_LIMIT_HEADERS },
  });
}

/** An admin operation: bearer security, 401/403 bodies, the 429. */
export function ApiAdminOperation(): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ApiBearerAuth(),
    ApiUnauthorizedResponse({ description: 'No valid credentials', type: SystemErrorResponse }),
    ApiForbiddenResponse({ description: 'Not an admin, or admin endpoints disabled', type: SystemErrorResponse }),
    ApiRateLimited(),
  );
}

/** A 400 naming the bad parameter. */
export function ApiBadParameter(): MethodDecorator & ClassDecorator {
  return ApiBadRequestResponse({ description: 'A missing, empty or oversized parameter (named in the message)' });
}
