import type { RateLimitResult } from './rate-limit.types.js';
import type { Violation } from './violation.js';

// The rate limiter's events: declared beside the types they carry and added to core's
// event map, so `ShieldEvents.on('ratelimit.decision', …)` is typed while core imports
// nothing from the rate limiter.

/** Emitted for every request the rate-limit guard decided. */
export interface RateLimitDecisionEvent {
  /** The raw client id (`user:42`, `ip:…`): in-process only; hash it before it leaves. */
  clientId: string;
  /** The route template, when known. */
  route: string | undefined;
  /** The decision, with every tier. */
  result: RateLimitResult;
  /** Whether the in-memory fallback decided (Redis unavailable). */
  fallback: boolean;
}

/** Emitted for every violation recorded: a rejection, or a shadow policy's would-be rejection. */
export type RateLimitViolationEvent = Violation;

/** Emitted when violations could not be kept for the stream (buffer full). */
export interface ViolationsDroppedEvent {
  /** How many violations were dropped at once. */
  count: number;
}

declare module '../../core/events/shield-events.js' {
  interface ShieldEventMap {
    /** The guard decided a request. */
    'ratelimit.decision': RateLimitDecisionEvent;
    /** A violation was recorded (`shadow: true` for a shadow policy's would-be rejection). */
    'ratelimit.violation': RateLimitViolationEvent;
    /** Violations were dropped because the stream buffer was full. */
    'ratelimit.violations.dropped': ViolationsDroppedEvent;
  }
}
