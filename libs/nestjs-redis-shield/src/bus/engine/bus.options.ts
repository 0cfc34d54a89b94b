import { checkBoolean, checkIntegerInRange, checkPositiveInteger } from '../../core/validators.js';

/**
 * Options of a connection's instance bus (`RedisModule.forRoot({ bus })`): the Redis
 * pub/sub channel over which instances tell each other to drop local state (a client's
 * rate-limit block after an admin reset, in-process cache entries).
 */
export interface InstanceBusOptions {
  /**
   * Whether the bus subscribes and publishes. Default true. Disabled, it behaves as a bus
   * that is always down: local state is trusted for at most `staleAfterMs`.
   */
  enabled?: boolean;
  /**
   * How long, in ms, local state may be kept while the bus cannot promise delivery (its
   * subscriber down, or down at some point since the state was made). Bounds how late a
   * missed message takes effect. Default 5000, at least 100.
   */
  staleAfterMs?: number;
  /** Budget of one publish, in ms, when the caller gives none. Default 1000. */
  publishTimeoutMs?: number;
}

/** {@link InstanceBusOptions} validated, with every default applied. */
export interface ResolvedBusOptions {
  enabled: boolean;
  staleAfterMs: number;
  publishTimeoutMs: number;
  /** How often the subscriber PINGs, in ms: a silent connection is noticed within twice this. */
  heartbeatMs: number;
  /** Cap of the subscriber's reconnect backoff, in ms (the connection's `maxReconnectDelayMs`). */
  maxReconnectDelayMs: number;
}

/** The smallest `staleAfterMs`: below it the heartbeat would PING in a busy loop. */
export const MIN_STALE_AFTER_MS = 100;
/** The longest heartbeat interval, in ms. */
const MAX_HEARTBEAT_MS = 1000;

/** Validates the bus options at start-up and throws at once with a message naming the option. */
export function resolveBusOptions(options: InstanceBusOptions = {}, maxReconnectDelayMs = 2000): ResolvedBusOptions {
  const enabled = checkBoolean('bus.enabled', options.enabled ?? true);
  const staleAfterMs = checkIntegerInRange('bus.staleAfterMs', options.staleAfterMs ?? 5000, MIN_STALE_AFTER_MS);
  const publishTimeoutMs = checkPositiveInteger('bus.publishTimeoutMs', options.publishTimeoutMs ?? 1000);
  return {
    enabled,
    staleAfterMs,
    publishTimeoutMs,
    // A silent outage must be noticed well within staleAfterMs: at most half of it.
    heartbeatMs: Math.min(MAX_HEARTBEAT_MS, Math.floor(staleAfterMs / 4)),
    maxReconnectDelayMs,
  };
}
