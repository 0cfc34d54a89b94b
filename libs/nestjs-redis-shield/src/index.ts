/**
 * nestjs-redis-shield: Redis-backed distributed rate limiting and HTTP response
 * caching for NestJS. This file is the package's only public entry point.
 */
export { HASHED_ID_LENGTH, hashId } from './common/hmac-id.js';
