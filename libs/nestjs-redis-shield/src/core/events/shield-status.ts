import { Injectable } from '@nestjs/common';
import type { RedisConnectionState } from './shield-events.js';

/** What the status registry needs of a Redis connection. */
export interface ConnectionStatusSource {
  /** The connection's name. */
  readonly name: string;
  /** `ready` when connected with the breaker closed; `down` otherwise. */
  readonly state: RedisConnectionState;
  /** Whether the connection's circuit breaker is open (Redis skipped). */
  readonly circuitOpen: boolean;
  /** Round-trip time of a PING, in ms; rejects when Redis does not answer in `timeoutMs`. */
  ping(options?: { timeoutMs?: number }): Promise<number>;
}

/** What the status registry needs of a rate limiter. */
export interface LimiterStatusSource {
  /** The connection its counters live on. */
  readonly connection: string;
  /** What it does when Redis fails: `open` falls back to memory, `closed` answers 503. */
  readonly failMode: 'open' | 'closed';
  /** Whether requests are being decided by the in-memory fallback now. */
  readonly fallbackActive: boolean;
}

/**
 * Where the library's parts report what they are, for readers outside the request path
 * (metrics at scrape time, health indicators): the Redis connections and the rate
 * limiters of this application. Global through `ShieldCoreModule`.
 */
@Injectable()
export class ShieldStatus {
  private readonly connectionsByName = new Map<string, ConnectionStatusSource>();
  private readonly limiterSet = new Set<LimiterStatusSource>();

  /** @internal Registers a connection; returns the function that unregisters it. */
  addConnection(connection: ConnectionStatusSource): () => void {
    this.connectionsByName.set(connection.name, connection);
    return () => {
      if (this.connectionsByName.get(connection.name) === connection) this.connectionsByName.delete(connection.name);
    };
  }

  /** @internal Registers a rate limiter; returns the function that unregisters it. */
  addLimiter(limiter: LimiterStatusSource): () => void {
    this.limiterSet.add(limiter);
    return () => this.limiterSet.delete(limiter);
  }

  /** The connection registered under `name`, if any. */
  connection(name: string): ConnectionStatusSource | undefined {
    return this.connectionsByName.get(name);
  }

  /** Every registered connection. */
  connections(): ConnectionStatusSource[] {
    return [...this.connectionsByName.values()];
  }

  /** Every registered rate limiter. */
  limiters(): LimiterStatusSource[] {
    return [...this.limiterSet];
  }

  /** The fail mode of the rate limiter counting on `connection`, if one does. */
  failModeOf(connection: string): 'open' | 'closed' | undefined {
    return this.limiters().find((limiter) => limiter.connection === connection)?.failMode;
  }
}
