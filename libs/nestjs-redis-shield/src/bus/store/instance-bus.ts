import { randomBytes } from 'node:crypto';
import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Cluster } from 'ioredis';
import type { ShieldEvents } from '../../core/events/shield-events.js';
import type { Deadline } from '../../core/deadline.js';
import { IntervalLog } from '../../core/interval-log.js';
import type { RedisConnection } from '../../redis/store/redis.connection.js';
import {
  type BusMessage,
  type BusMessageOf,
  type BusMessageType,
  type BusRejectReason,
  deliveryLagMs,
  encodeBusMessage,
  MAX_BUS_MESSAGE_BYTES,
  parseBusMessage,
  validateBusMessage,
} from '../engine/bus-message.js';
import { BusSubscriber } from './bus-subscriber.js';
import type { ResolvedBusOptions } from '../engine/bus.options.js';

/** Where a delivered message comes from. */
export interface BusOrigin {
  /** The sender's {@link InstanceBus.instanceId}. */
  from: string;
  /** True when this instance published it (delivered at once, without Redis). */
  local: boolean;
}

/** A handler of one message type; it should be idempotent and cheap (it runs on the subscriber's path). */
export type BusHandler<T extends BusMessageType> = (
  message: BusMessageOf<T>,
  origin: BusOrigin,
) => void | Promise<void>;

/** A handler with its message type erased, as stored. */
type StoredHandler = (message: BusMessage, origin: BusOrigin) => void | Promise<void>;

/** The budget of one {@link InstanceBus.publish}. */
export interface PublishOptions {
  /** A request's deadline, when publishing on the request path. */
  deadline?: Deadline;
  /** A budget in ms; default the bus's `publishTimeoutMs`. Ignored with `deadline`. */
  timeoutMs?: number;
}

/** What the bus counted since start-up. */
export interface InstanceBusCounters {
  /** Messages published to Redis. */
  published: number;
  /** Publishes that failed (Redis down, breaker open, out of budget): the others never heard of them. */
  publishFailed: number;
  /** Valid messages received from other instances. */
  received: number;
  /** Payloads ignored, by reason (oversized, not JSON, unknown version or type, invalid). */
  ignored: Record<BusRejectReason, number>;
  /** Handlers that threw or rejected. */
  handlerErrors: number;
  /**
   * Delivery lag of the messages received from other instances that carry their send time
   * (instances that predate it send none): receive time minus send time by the two hosts'
   * wall clocks, so clock skew between them shifts it; a negative difference counts as 0.
   */
  lag: {
    /** Messages whose lag was measured. */
    measured: number;
    /** The lag of the latest one, in ms; null before the first. */
    lastMs: number | null;
    /** The largest lag since start-up, in ms; null before the first. */
    maxMs: number | null;
  };
}

/** How long the bus waits before warning that it is down: the connection reports a Redis outage itself. */
const DOWN_LOG_DELAY_MS = 1000;

/** At most one warning per this interval about ignored messages or failed publishes, in ms. */
export const BUS_WARN_INTERVAL_MS = 60_000;

/**
 * @internal For the library's modules. The instance bus of one Redis connection: tells
 * every instance of the application that shares this Redis to drop local state (a
 * client's rate-limit block, in-process cache entries), over one pub/sub channel.
 *
 * Guarantees. While {@link connected}, a message published by any instance reaches every
 * connected instance within 1 s (pub/sub delivers in milliseconds). While not, messages
 * are missed, so local state may only be kept for `staleAfterMs`: callers record
 * {@link epoch} when they create state and drop it once it is older than
 * {@link maxLocalLifetimeMs}`(recordedEpoch)`. A missed message thus takes effect at most
 * `staleAfterMs` late: a closed connection is noticed at once, a silent one (stalled
 * server, partition) within half of `staleAfterMs` (PING heartbeat).
 *
 * Never on the request path: subscribing happens on its own connection, publishing is one
 * command with a budget and fails open (resolves `false`). The sender's handlers run at
 * once, locally, and its own echo from Redis is skipped. The subscriber starts with the
 * first handler ({@link on}); without Redis the bus is simply down and retries forever.
 */
export class InstanceBus implements OnApplicationShutdown {
  /** This instance's random id, carried by every message it sends. */
  readonly instanceId = randomBytes(12).toString('base64url');
  /** The channel name (a shard channel with one hash tag on a Cluster). */
  readonly channel: string;
  /** How long local state may be kept while delivery is not guaranteed, in ms. */
  readonly staleAfterMs: number;
  private readonly counters: InstanceBusCounters = {
    published: 0,
    publishFailed: 0,
    received: 0,
    ignored: { 'too-large': 0, 'not-json': 0, malformed: 0, 'unknown-version': 0, 'unknown-type': 0, invalid: 0 },
    handlerErrors: 0,
    lag: { measured: 0, lastMs: null, maxMs: null },
  };
  private readonly logger: Logger;
  private readonly handlers = new Map<BusMessageType, Set<StoredHandler>>();
  private readonly subscriber: BusSubscriber | undefined;
  /** One warning per topic per {@link BUS_WARN_INTERVAL_MS}. */
  private readonly warnings = new IntervalLog(BUS_WARN_INTERVAL_MS);
  private currentEpoch = 0;
  private up = false;
  /** Whether this outage was reported (a warning may follow after {@link DOWN_LOG_DELAY_MS}). */
  private downReported = false;
  private downLog: NodeJS.Timeout | undefined;
  private closed = false;

  /** @internal Created by `RedisModule` for each connection; inject it with `getInstanceBusToken(name)`. */
  constructor(
    private readonly connection: RedisConnection,
    private readonly options: ResolvedBusOptions,
    private readonly events: ShieldEvents,
  ) {
    this.logger = new Logger(`InstanceBus:${connection.name}`);
    this.channel = connection.keys.busChannel();
    this.staleAfterMs = options.staleAfterMs;
    if (options.enabled) {
      this.subscriber = new BusSubscriber(
        connection.client,
        {
          connectionName: connection.name,
          channel: this.channel,
          heartbeatMs: options.heartbeatMs,
          maxReconnectDelayMs: options.maxReconnectDelayMs,
        },
        {
          message: (payload) => this.receive(payload),
          up: () => this.changed(true, 'subscribed'),
          down: (reason) => this.changed(false, reason),
        },
      );
    }
  }

  /** Whether the subscriber is subscribed now (and its heartbeat answered): messages reach this instance. */
  get connected(): boolean {
    return this.up;
  }

  /**
   * Changes every time {@link connected} changes. State made at epoch `e` has seen every
   * message published since iff the bus is connected and its epoch is still `e`.
   */
  get epoch(): number {
    return this.currentEpoch;
  }

  /**
   * How long, in ms since it was made, local state may be kept: `Infinity` while the bus
   * is connected and (given the state's recorded {@link epoch}) has been since the state
   * was made; `staleAfterMs` otherwise.
   *
   * @example
   * const entry = { value, createdAt: Date.now(), epoch: bus.epoch };
   * // later
   * if (Date.now() - entry.createdAt > bus.maxLocalLifetimeMs(entry.epoch)) drop(entry);
   */
  maxLocalLifetimeMs(createdAtEpoch?: number): number {
    if (!this.up) return this.staleAfterMs;
    return createdAtEpoch === undefined || createdAtEpoch === this.currentEpoch ? Infinity : this.staleAfterMs;
  }

  /** A copy of the counters. */
  stats(): InstanceBusCounters {
    return { ...this.counters, ignored: { ...this.counters.ignored }, lag: { ...this.counters.lag } };
  }

  /**
   * Registers a handler of one message type and starts the subscriber if it is not
   * running yet. Returns the function that removes the handler.
   */
  on<T extends BusMessageType>(type: T, handler: BusHandler<T>): () => void {
    let set = this.handlers.get(type);
    if (!set) this.handlers.set(type, (set = new Set()));
    // Only messages of `type` are ever passed to the handlers stored under `type`.
    const stored = handler as unknown as StoredHandler;
    set.add(stored);
    if (!this.closed) this.subscriber?.start();
    return () => set.delete(stored);
  }

  /**
   * Runs this instance's handlers at once, then publishes the message to the others.
   * Resolves `true` once Redis took it, `false` when it could not be sent (bus disabled,
   * Redis unavailable, out of budget) or the message does not conform to its schema.
   * Never rejects: a caller need not await it.
   */
  async publish(message: BusMessage, options: PublishOptions = {}): Promise<boolean> {
    const checked = validateBusMessage(message);
    const payload = checked && encodeBusMessage(checked, this.instanceId, Date.now());
    if (!checked || !payload || Buffer.byteLength(payload) > MAX_BUS_MESSAGE_BYTES) {
      this.warnAtMostEvery('refused', `refused to publish a message that fails its schema (type ${typeOf(message)})`);
      return false;
    }
    this.deliver(checked, { from: this.instanceId, local: true });
    if (!this.options.enabled || this.closed) return false;
    const sharded = this.connection.client instanceof Cluster;
    try {
      await this.connection.run(
        (client) => (sharded ? client.spublish(this.channel, payload) : client.publish(this.channel, payload)),
        {
          command: 'bus_publish',
          // Bus traffic is no evidence about the request path: it never opens the breaker.
          tripsBreaker: false,
          deadline: options.deadline,
          timeoutMs: options.timeoutMs ?? this.options.publishTimeoutMs,
        },
      );
      this.counters.published++;
      return true;
    } catch (error) {
      this.counters.publishFailed++;
      this.warnAtMostEvery(
        'publish',
        `could not publish (${errorMessage(error)}); other instances rely on staleAfterMs`,
      );
      return false;
    }
  }

  /** Closes the subscriber. Idempotent. */
  async onApplicationShutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.downLog);
    await this.subscriber?.stop();
  }

  private receive(payload: Buffer): void {
    const parsed = parseBusMessage(payload);
    if (!parsed.ok) {
      this.counters.ignored[parsed.reason]++;
      this.warnAtMostEvery('ignored', `ignored a message on ${this.channel} (${parsed.reason}); counted in stats()`);
      return;
    }
    // Its handlers already ran when it was published.
    if (parsed.from === this.instanceId) return;
    this.counters.received++;
    if (parsed.sentAt !== undefined) this.measured(deliveryLagMs(parsed.sentAt, Date.now()));
    this.deliver(parsed.message, { from: parsed.from, local: false });
  }

  /** Records one message's delivery lag in the stats and emits it (`bus.delivery`). */
  private measured(lagMs: number): void {
    const { lag } = this.counters;
    lag.measured++;
    lag.lastMs = lagMs;
    lag.maxMs = Math.max(lag.maxMs ?? 0, lagMs);
    this.events.emit('bus.delivery', { connection: this.connection.name, lagMs });
  }

  private deliver(message: BusMessage, origin: BusOrigin): void {
    const set = this.handlers.get(message.type);
    if (!set) return;
    for (const handler of set) {
      try {
        const result = handler(message, origin);
        if (result instanceof Promise) result.catch((error: unknown) => this.handlerFailed(message, error));
      } catch (error) {
        this.handlerFailed(message, error);
      }
    }
  }

  private handlerFailed(message: BusMessage, error: unknown): void {
    this.counters.handlerErrors++;
    this.warnAtMostEvery(`handler:${message.type}`, `a handler of '${message.type}' failed: ${errorMessage(error)}`);
  }

  private changed(up: boolean, reason: string): void {
    if (this.closed) return;
    if (up === this.up) {
      // Failed attempts of an outage already reported stay quiet; the first one of a bus that
      // never connected is reported once.
      if (!up && !this.downReported) this.reportDown(reason);
      return;
    }
    this.up = up;
    this.currentEpoch++;
    if (up) {
      clearTimeout(this.downLog);
      this.downLog = undefined;
      this.logger.debug(`subscribed to ${this.channel}`);
      // Back up: the connection logs the end of an outage it logged.
      this.connection.noteOutage('instance bus', false, `subscribed to ${this.channel}`);
      this.downReported = false;
    } else {
      this.reportDown(reason);
    }
    this.events.emit('bus.state', {
      connection: this.connection.name,
      state: up ? 'up' : 'down',
      reason,
      epoch: this.currentEpoch,
    });
  }

  /**
   * Reports an outage of the bus, once, to the connection's outage log (one line per
   * outage for the whole library, whichever part noticed it first) — after a moment, so a
   * blip the subscriber recovers from at once says nothing.
   */
  private reportDown(reason: string): void {
    this.downReported = true;
    this.logger.debug(`down (${reason}); reconnecting`);
    clearTimeout(this.downLog);
    this.downLog = setTimeout(() => {
      this.downLog = undefined;
      if (this.up || this.closed) return;
      this.connection.noteOutage(
        'instance bus',
        true,
        `${reason}; local state is kept for at most ${this.staleAfterMs} ms until it is back`,
      );
    }, DOWN_LOG_DELAY_MS);
    this.downLog.unref();
  }

  private warnAtMostEvery(topic: string, text: string): void {
    if (this.warnings.due(topic)) this.logger.warn(text);
  }
}

function typeOf(message: unknown): string {
  const type = (message as { type?: unknown } | null)?.type;
  return typeof type === 'string' ? JSON.stringify(type.slice(0, 40)) : typeof type;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
