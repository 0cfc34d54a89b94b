import { Cluster, type Redis, type RedisOptions } from 'ioredis';
import type { RedisClient } from '../../redis/engine/redis.options.js';
import { clusterSlot } from '../engine/cluster-slot.js';
import { withTimeout } from '../../core/timeout.js';
import { shieldError } from '../../core/errors.js';

/** How the subscriber connects and what it listens to. */
export interface BusSubscriberOptions {
  /** The connection's name, for the subscriber's `CLIENT SETNAME`. */
  connectionName: string;
  /** The channel (a shard channel on a Cluster). */
  channel: string;
  /** PING interval, in ms: a connection that leaves one unanswered for a whole interval is dropped. */
  heartbeatMs: number;
  /** Cap of the reconnect backoff, in ms. */
  maxReconnectDelayMs: number;
}

/** What the subscriber reports. */
export interface BusSubscriberListener {
  /** A payload arrived on the channel (not parsed yet). */
  message(payload: Buffer): void;
  /** The subscription is in place: from now on every message published reaches {@link message}. */
  up(): void;
  /** The subscription was lost, or an attempt to make it failed; it retries by itself. */
  down(reason: string): void;
}

/** How long one attempt may take from connecting to the subscription's confirmation, in ms. */
export const SUBSCRIBE_TIMEOUT_MS = 2000;
/** How long a discarded client may take to close its socket before the subscriber moves on, in ms. */
const DISCONNECT_GRACE_MS = 1000;

/**
 * The instance bus's own Redis connection: subscriber mode blocks other commands on a
 * connection, so it never shares the one that carries requests. Standalone and Sentinel:
 * a duplicate of the request client (`SUBSCRIBE`). Cluster: a connection to the master
 * owning the channel's slot, found in the request client's slot map (`SSUBSCRIBE`, Redis
 * 7+), so a message crosses no cluster bus. One attempt is one fresh client that never
 * reconnects by itself: when it fails, is closed, stops answering PINGs or its slot
 * moves, the next attempt starts over (the slot's owner may have changed) after a backoff
 * capped at `maxReconnectDelayMs`, forever, until {@link stop}.
 */
export class BusSubscriber {
  private client: Redis | undefined;
  private subscribed = false;
  private attempt = 0;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private attemptTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly source: RedisClient,
    private readonly options: BusSubscriberOptions,
    private readonly listener: BusSubscriberListener,
  ) {}

  /** Whether the channel uses sharded pub/sub (on a Cluster). */
  get sharded(): boolean {
    return this.source instanceof Cluster;
  }

  /** Whether the subscription is in place and the last heartbeat was answered. */
  get isSubscribed(): boolean {
    return this.subscribed;
  }

  /** Starts the first attempt (no-op once started or stopped). */
  start(): void {
    if (this.stopped || this.client || this.retryTimer) return;
    this.open();
  }

  /** Closes the subscriber for good; resolves once its socket is closed (at most 1 s). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const client = this.client;
    if (client) await this.discard(client);
  }

  private open(): void {
    this.retryTimer = undefined;
    if (this.stopped) return;
    let client: Redis;
    try {
      client = this.createClient();
    } catch (error) {
      this.failed(errorMessage(error));
      return;
    }
    this.client = client;
    let lastError: string | undefined;
    const onPayload = (channel: Buffer, payload: Buffer) => {
      if (channel.toString() === this.options.channel) this.listener.message(payload);
    };
    client.on(this.sharded ? 'smessageBuffer' : 'messageBuffer', onPayload);
    client.on('error', (error: Error) => (lastError = error.message));
    // A shard channel whose slot migrated: Redis unsubscribes the client.
    client.on('moved', () => this.lost(client, 'the channel slot moved'));
    client.once('close', () => this.lost(client, lastError ?? 'connection closed'));
    client.once('end', () => this.lost(client, lastError ?? 'connection closed'));
    // A server that accepts the connection but never answers must not hold the attempt.
    this.attemptTimer = setTimeout(
      () => this.lost(client, `not subscribed within ${SUBSCRIBE_TIMEOUT_MS} ms`),
      SUBSCRIBE_TIMEOUT_MS,
    );
    this.attemptTimer.unref();
    client
      .connect()
      .then(() => (this.sharded ? client.ssubscribe(this.options.channel) : client.subscribe(this.options.channel)))
      .then(
        () => this.subscribedOn(client),
        (error: unknown) => {
          if (/^MOVED /.test(errorMessage(error))) (this.source as Cluster).refreshSlotsCache();
          this.lost(client, errorMessage(error));
        },
      );
  }

  private subscribedOn(client: Redis): void {
    if (this.client !== client || this.stopped) return;
    clearTimeout(this.attemptTimer);
    this.attempt = 0;
    this.subscribed = true;
    this.heartbeat(client);
    this.listener.up();
  }

  /** One PING per interval; one still unanswered when the next is due means the link is dead. */
  private heartbeat(client: Redis): void {
    let pending = false;
    this.heartbeatTimer = setInterval(() => {
      if (pending) {
        this.lost(client, `no answer to PING within ${this.options.heartbeatMs} ms`);
        return;
      }
      pending = true;
      client.ping().then(
        () => (pending = false),
        () => undefined,
      );
    }, this.options.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  private lost(client: Redis, reason: string): void {
    if (this.client !== client) return;
    void this.discard(client);
    this.failed(reason);
  }

  private failed(reason: string): void {
    this.subscribed = false;
    this.listener.down(reason);
    if (this.stopped) return;
    if (this.sharded) (this.source as Cluster).refreshSlotsCache();
    const delayMs = Math.min(50 * 2 ** Math.min(this.attempt++, 16), this.options.maxReconnectDelayMs);
    this.retryTimer = setTimeout(() => this.open(), delayMs);
    this.retryTimer.unref();
  }

  private async discard(client: Redis): Promise<void> {
    if (this.client === client) this.client = undefined;
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.attemptTimer);
    client.removeAllListeners();
    client.on('error', () => undefined);
    if (client.status === 'end') return;
    const ended = new Promise<void>((resolve) => client.once('end', resolve));
    client.disconnect();
    await withTimeout(ended, DISCONNECT_GRACE_MS, { unref: true });
  }

  /** A fresh client for one attempt: the source's options, never reconnecting by itself. */
  private createClient(): Redis {
    const overrides: RedisOptions = {
      connectionName: `nestjs-redis-shield:${this.options.connectionName}:bus`,
      lazyConnect: true,
      enableOfflineQueue: false,
      autoResubscribe: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      sentinelRetryStrategy: () => null,
      reconnectOnError: () => false,
      readOnly: false,
      monitor: false,
    };
    if (!(this.source instanceof Cluster)) return this.source.duplicate(overrides);
    const owner = this.source.slots[clusterSlot(this.options.channel)]?.[0];
    const node =
      owner && this.source.nodes('master').find(({ options }) => `${options.host}:${options.port}` === owner);
    if (!node) throw shieldError('busChannelUnowned');
    return node.duplicate(overrides);
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
