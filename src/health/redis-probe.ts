import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { RedisConnection, ShieldEvents } from 'nestjs-redis-shield';

/** How long one PING's answer is served to every `/health` call, in ms. */
export const HEALTH_PROBE_INTERVAL_MS = 1000;

/** Redis as seen by the health endpoint. */
export interface RedisHealth {
  status: 'up' | 'down';
  /** Round-trip time of the PING, in milliseconds; null when Redis does not answer. */
  latency_ms: number | null;
  /** How old this answer is, in ms: 0 when just probed (or known from the connection state). */
  age_ms: number;
}

interface Probe {
  status: 'up' | 'down';
  latencyMs: number | null;
  /** When the PING was answered (or failed), `Date.now()` ms. */
  atMs: number;
}

/**
 * Redis's health for `/health`, one PING per {@link HEALTH_PROBE_INTERVAL_MS} per instance
 * at most: every call meanwhile gets the last answer, labelled by its age, and calls that
 * arrive while a PING is out wait for it. A PING per request let any client make Redis
 * work without limit through an endpoint that is never rate-limited. While the connection
 * is down the answer comes from its state at once (no PING, nothing kept); a change of the
 * connection's state forgets the last answer.
 */
@Injectable()
export class RedisProbe implements OnModuleDestroy {
  private last: Probe | undefined;
  private inFlight: Promise<Probe> | undefined;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly redis: RedisConnection,
    events: ShieldEvents,
  ) {
    this.unsubscribe = events.on('redis.state', ({ connection }) => {
      if (connection === redis.name) this.last = undefined;
    });
  }

  /** The connection's health now, or as probed less than the interval ago. */
  async check(): Promise<RedisHealth> {
    // While the connection is down, answer at once instead of waiting for a timeout.
    if (this.redis.state === 'down') return { status: 'down', latency_ms: null, age_ms: 0 };
    let probe = this.last;
    if (!probe || Date.now() - probe.atMs >= HEALTH_PROBE_INTERVAL_MS) {
      this.inFlight ??= this.ping().finally(() => (this.inFlight = undefined));
      probe = await this.inFlight;
    }
    return { status: probe.status, latency_ms: probe.latencyMs, age_ms: Math.max(0, Date.now() - probe.atMs) };
  }

  onModuleDestroy(): void {
    this.unsubscribe();
  }

  private async ping(): Promise<Probe> {
    let probe: Probe;
    try {
      const latency = await this.redis.ping();
      probe = { status: 'up', latencyMs: Math.round(latency * 100) / 100, atMs: Date.now() };
    } catch {
      probe = { status: 'down', latencyMs: null, atMs: Date.now() };
    }
    this.last = probe;
    return probe;
  }
}
