import { Logger, type LoggerService } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { InstanceBus } from '../../bus/store/instance-bus.js';
import { Deadline, requestDeadline } from '../../core/deadline.js';
import { messages, withCode } from '../../core/errors.js';
import { IntervalLog } from '../../core/interval-log.js';
import type { ShieldEvents } from '../../core/events/shield-events.js';
import type { LimiterStatusSource, ShieldStatus } from '../../core/events/shield-status.js';
import { RedisCommandError, RedisUnavailableError } from '../../redis/engine/redis.errors.js';
import type { RedisConnection } from '../../redis/store/redis.connection.js';
import { atEndOfTurn } from '../../core/end-of-turn.js';
import { BlockCache } from '../engine/block-cache.js';
import { partitionKeyOf } from '../engine/rate-limit-headers.js';
import { LeaseTokens } from '../engine/concurrency.js';
import type { FailMode, RateLimitModuleOptions } from '../engine/rate-limit.options.js';
import type { RateLimitPolicy, RateLimitResult } from '../engine/rate-limit.types.js';
import { summarize } from '../engine/summarize.js';
import { MemoryRateLimitStore } from '../store/memory.store.js';
import { RedisRateLimitStore } from '../store/redis.store.js';
import type { RateLimitStore } from '../store/store.interface.js';
import { RateLimitUnavailableException } from './rate-limit.exceptions.js';

/** A decision, and whether the in-memory fallback made it because Redis failed. */
export interface LimiterDecision {
  result: RateLimitResult;
  fallback: boolean;
  /**
   * Frees the slots the call took in concurrency tiers (with `holdSlots`, when admitted):
   * call it once the request is over. Never throws, never waits: a failed release is
   * logged and retried once Redis answers again; the lease frees the slots at the latest.
   */
  release?: () => void;
}

/** What one call asks of the limiter. */
export interface LimiterCall {
  /** The raw client id (`user:42`, `ip:…`); hashed before anything keeps it. */
  clientId: string;
  /** Every policy the call is checked against. */
  policies: readonly RateLimitPolicy[];
  /** Units the call costs in every policy not in `policyCosts` (`consume` only). */
  cost: number;
  /** Costs of single policies, by name, instead of `cost` (see `RateLimitStoreRequest.policyCosts`). */
  policyCosts?: Readonly<Record<string, number>>;
  /**
   * The HTTP request being limited (or one WebSocket message, by its arguments array): its
   * Redis deadline is the one the response cache shares, and `consume` reports the decision
   * as `ratelimit.decision`. Absent for calls outside HTTP (`RateLimitService`), which are
   * not reported.
   */
  request?: IncomingMessage | object;
  /** The route template the decision is reported under (with `request`). */
  route?: string;
  /** The Redis deadline of a call without `request`. */
  deadline?: Deadline;
  /** Called right before the store call (not for a local block or the fallback), e.g. to start a cache read alongside. */
  beforeStore?: () => void;
  /**
   * Take a slot in the concurrency tiers of `policies` when admitted, to be freed with the
   * decision's `release` (the guard releases when the response is over). Without it,
   * concurrency tiers are reported but neither take a slot nor reject.
   */
  holdSlots?: boolean;
}

/** What a limiter is made of; {@link RateLimiter.create} assembles the module's. */
export interface RateLimiterParts {
  /** Decides when the store cannot (and everything when there is no store). */
  fallback: MemoryRateLimitStore;
  /** What a store failure means for a request (the `failMode` option). Default `open`. */
  failMode?: FailMode;
  /** The store asked first; none in the testing module, where the fallback decides everything. */
  store?: RateLimitStore;
  /**
   * The Redis connection `store` runs on: its breaker skips the store while open, its
   * command timeout is each request's Redis budget, and its state tells when the fallback
   * decides. None for a custom store. Also hashes client ids unless `hashId` says otherwise.
   */
  connection?: RedisConnection;
  /** How a client id is keyed in local state and on the bus (the connection's HMAC); raw ids without. */
  hashId?: (clientId: string) => string;
  /**
   * The draft `pk` of a client id (see `partitionKeyOf`), from a keyed hash; none where ids
   * are not hashed, and then no `pk` is sent (never a raw id).
   */
  partitionKey?: (clientId: string) => string;
  /** Clients rejected until their retry time, answered without the store; none when disabled. */
  blocks?: BlockCache;
  /** Tells every instance about a reset (each drops the client's local state); none in tests. */
  bus?: InstanceBus;
  /** Where HTTP decisions are reported (`ratelimit.decision`). */
  events?: ShieldEvents;
  /** Where store failures are logged. Default: Nest's `Logger` with context `RateLimit`. */
  logger?: LoggerService;
}

/**
 * A reset by HMAC asked of a limiter whose store keys clients its own way (a custom store
 * without `resetHashed`, or no HMAC of ids at all): such a client can only be reset by its raw id.
 */
export class HashedResetUnsupportedError extends Error {
  /** @internal Thrown by the rate limiter; its message says to reset by user id or IP instead. */
  constructor() {
    super(messages.hashedResetUnsupported());
    this.name = 'HashedResetUnsupportedError';
  }
}

/** The errors that mean the store could not decide (never a denial). */
function storeUnavailable(error: unknown): error is RedisUnavailableError | RedisCommandError {
  return error instanceof RedisUnavailableError || error instanceof RedisCommandError;
}

/**
 * The one way into the counters, for the guard, `RateLimitService` and the system API: the
 * store first (the Redis store, or the module's `store` option), within the request's
 * deadline; when Redis is unavailable (or refuses the script), `open` counts in the
 * in-memory store with the same policies, `closed` refuses; either way a client the store
 * had rejected until a later time stays rejected (the block cache). Distributed counting
 * resumes by itself once the connection's breaker closes. HTTP decisions are reported as
 * `ratelimit.decision` events.
 */
export class RateLimiter implements LimiterStatusSource {
  /** What a store failure means for a request: `open` counts in memory, `closed` refuses. */
  readonly failMode: FailMode;
  private readonly fallback: MemoryRateLimitStore;
  private readonly store: RateLimitStore | undefined;
  private readonly redis: RedisConnection | undefined;
  private readonly hashId: ((clientId: string) => string) | undefined;
  private readonly partitionKeys: ((clientId: string) => string) | undefined;
  private readonly blocks: BlockCache | undefined;
  private readonly bus: InstanceBus | undefined;
  private readonly events: ShieldEvents | undefined;
  private readonly logger: LoggerService;
  /** Script failures: at most one line per 10 s, as a persistent error (e.g. OOM) would otherwise flood. */
  private readonly scriptErrors = new IntervalLog(10_000);
  /** Failed slot releases: at most one line per 10 s. */
  private readonly releaseErrors = new IntervalLog(10_000);
  /** This instance's lease tokens for concurrency slots. */
  private readonly leaseTokens = new LeaseTokens(randomBytes(9).toString('base64url'));
  private unregister: () => void = () => undefined;
  private readonly stopListening: () => void;

  constructor(parts: RateLimiterParts) {
    this.fallback = parts.fallback;
    this.failMode = parts.failMode ?? 'open';
    this.store = parts.store;
    this.redis = parts.connection;
    this.hashId = parts.hashId ?? (parts.connection && ((id) => parts.connection!.keys.hashId(id)));
    this.partitionKeys = parts.partitionKey;
    this.blocks = parts.blocks;
    this.bus = parts.bus;
    this.events = parts.events;
    this.logger = parts.logger ?? new Logger('RateLimit');
    this.stopListening = this.bus?.on('ratelimit.reset', ({ client }) => this.drop(client)) ?? (() => undefined);
  }

  /**
   * `RateLimitModule`'s limiter, where its store is chosen: the `store` option, else the
   * Redis store on `connection`; the in-memory fallback on the connection's clock; the local
   * block cache unless `localBlockCache: false`. Registered with the status registry.
   */
  static create(
    options: RateLimitModuleOptions,
    connection: RedisConnection,
    services: { status: ShieldStatus; events: ShieldEvents; bus: InstanceBus },
  ): RateLimiter {
    return new RateLimiter({
      fallback: new MemoryRateLimitStore({ clock: connection.clock, maxClients: options.fallbackMaxClients }),
      failMode: options.failMode,
      store: options.store ?? new RedisRateLimitStore(connection),
      connection: options.store ? undefined : connection,
      hashId: (id) => connection.keys.hashId(id),
      // Its own label: a pk matches no key, log line or stream entry of the client.
      partitionKey: (id) => partitionKeyOf(connection.keys.hashId(`partition:${id}`)),
      blocks:
        options.localBlockCache === false
          ? undefined
          : new BlockCache(options.localBlockCache?.maxEntries, Date.now, services.bus),
      bus: services.bus,
      events: services.events,
    }).register(services.status);
  }

  /** The store asked first (the fallback when there is none): the `RateLimitStore` provider. */
  get primary(): RateLimitStore {
    return this.store ?? this.fallback;
  }

  /** The connection the counters live on (`custom` for a custom store, `memory` without one). */
  get connection(): string {
    return this.redis?.name ?? (this.store ? 'custom' : 'memory');
  }

  /**
   * A Redis deadline of its own (one command timeout) for a call that stands for one request
   * but whose HTTP request outlives it: a GraphQL subscription over a WebSocket, whose
   * upgrade request would otherwise pool the Redis time of every subscription on the socket
   * (and stay spent after one timeout). Undefined without a Redis connection.
   */
  ownDeadline(): Deadline | undefined {
    return this.redis && Deadline.after(this.redis.commandTimeoutMs);
  }

  /** Whether requests are decided in memory now: `open` mode with the connection down. */
  get fallbackActive(): boolean {
    return this.failMode === 'open' && this.redis?.state === 'down';
  }

  /** Reports this limiter to the status registry (metrics, health) until {@link close}. */
  register(status: { addLimiter(limiter: LimiterStatusSource): () => void }): this {
    this.unregister = status.addLimiter(this);
    return this;
  }

  /**
   * A client's standing in `policies` without counting: from the store, or, when it is
   * unavailable (or Redis refuses the script), from this instance's fallback state, flagged
   * `degraded` (whatever the fail mode: reading a standing never needs to fail).
   */
  async status(call: Omit<LimiterCall, 'cost'>): Promise<{ result: RateLimitResult; degraded: boolean }> {
    const { clientId, policies } = call;
    if (this.store && !this.redis?.circuitOpen) {
      const deadline = this.deadlineOf(call);
      try {
        return { result: summarize(await this.store.peek({ clientId, policies, deadline })), degraded: false };
      } catch (error) {
        if (!storeUnavailable(error)) throw error;
      }
    }
    const local = this.localId(clientId);
    return { result: summarize(await this.fallback.peek({ clientId: local, policies })), degraded: !!this.store };
  }

  /**
   * Decides and counts one call: from the local block cache when the client is known to be
   * over its limit, else from the store, else (store unavailable) by the fail mode: the
   * fallback in `open` mode, {@link RateLimitUnavailableException} (the store's error as its
   * `cause`) in `closed` mode. Reports a decision on an HTTP request (`call.request`).
   */
  async consume(call: LimiterCall): Promise<LimiterDecision> {
    const { clientId, policies, cost, policyCosts } = call;
    // Local state (blocks, fallback buckets) is keyed by the client's HMAC, the form a reset
    // from another instance names it by.
    const local = this.localId(clientId);
    if (this.store) {
      // Shared with the cache: a budget of Redis time, which waits in the app never spend.
      const deadline = this.deadlineOf(call);
      let blocked = this.blocks?.get(local, policies, cost, policyCosts);
      if (blocked) {
        // An HTTP request's rejection from memory goes out with the turn's other writes, as
        // one that waited for Redis does (see atEndOfTurn); a service call decides at once.
        const known = blocked;
        return call.request ? atEndOfTurn(() => this.decided(call, known, false)) : this.decided(call, known, false);
      }
      // A client at its limit: wait for the decision in flight; its rejection answers here.
      for (let leader = this.blocks?.leader(local, policies); leader;) {
        await leader;
        blocked = this.blocks!.get(local, policies, cost, policyCosts);
        if (blocked) return this.decided(call, blocked, false);
        leader = this.blocks!.leader(local, policies);
      }
      const beforeStore = this.redis?.circuitOpen ? undefined : call.beforeStore;
      const store = this.store;
      const leaseToken = this.leaseTokenFor(call, store);
      try {
        const decision = store.consume({ clientId, policies, cost, policyCosts, deadline, leaseToken });
        this.blocks?.deciding(local, policies, decision);
        beforeStore?.();
        const result = summarize(await decision);
        // A slot frees whenever a request ends: a concurrency rejection is never repeated locally.
        if (!rejectedBySlots(result)) this.blocks?.remember(local, policies, cost, result, policyCosts);
        return this.decided(call, result, false, this.releaser(store, clientId, policies, leaseToken, result));
      } catch (error) {
        // The script may have run and taken a slot before its answer was lost (a deadline
        // passed): give it back now rather than at the end of its lease (harmless if not).
        // Never sent (the breaker open): nothing to give back.
        const sent = !(error instanceof RedisUnavailableError && error.reason === 'circuit-open');
        if (leaseToken !== undefined && sent) {
          this.releaseSlots(store, clientId, policies, leaseToken).catch(() => undefined);
        }
        if (!storeUnavailable(error)) throw error;
        if (error instanceof RedisCommandError && this.scriptErrors.due()) {
          this.logger.error(`rate-limit script failed: ${error.message}`);
        }
        // What Redis said about the client still holds, in either fail mode: a block learned
        // while this request waited (another request's rejection), or one kept past the bus's
        // bound. A client Redis rejected is never handed a fresh per-instance quota.
        const known = this.blocks?.get(local, policies, cost, policyCosts, { redisDown: true });
        if (known) return this.decided(call, known, false);
        if (this.failMode === 'closed') throw new RateLimitUnavailableException({ cause: error });
      }
    }
    const leaseToken = this.leaseTokenFor(call, this.fallback);
    const result = summarize(await this.fallback.consume({ clientId: local, policies, cost, policyCosts, leaseToken }));
    return this.decided(call, result, !!this.store, this.releaser(this.fallback, local, policies, leaseToken, result));
  }

  /**
   * Forgets a client's counters in `policies`, then what every instance keeps locally about
   * it (see {@link forget}). Throws when the store fails.
   */
  async reset(clientId: string, policies: readonly RateLimitPolicy[], options: { deadline?: Deadline } = {}) {
    if (this.store) await this.store.reset(clientId, policies, options);
    // Every instance drops its local state of the client (blocks, fallback buckets).
    await this.forget(clientId);
  }

  /**
   * {@link reset} for a client known only by its HMAC (`hash`, as the violation stream and
   * the dashboard show it): its counters in `policies`, then every instance's local state.
   * Throws {@link HashedResetUnsupportedError} when the store keys clients its own way (a
   * custom store without `resetHashed`), and when the store fails.
   */
  async resetHashed(hash: string, policies: readonly RateLimitPolicy[], options: { deadline?: Deadline } = {}) {
    if (!this.hashId || (this.store && !this.store.resetHashed)) {
      throw withCode(new HashedResetUnsupportedError(), 'hashedResetUnsupported');
    }
    await this.store?.resetHashed!(hash, policies, options);
    // Local state is keyed by the HMAC already: the form the bus names clients by.
    await this.forgetLocal(hash);
  }

  /**
   * Forgets what every instance keeps locally about a client (blocks, fallback buckets)
   * after its buckets were reset: this instance at once, the others through the bus
   * within a second (or when their local state ages out while the bus is down).
   */
  forget(clientId: string): Promise<void> {
    return this.forgetLocal(this.localId(clientId));
  }

  /** {@link forget} by the id local state is kept under (the client's HMAC with Redis). */
  private async forgetLocal(local: string): Promise<void> {
    // Never rejects: a failed publish leaves the others to their staleness bound.
    if (this.bus) await this.bus.publish({ type: 'ratelimit.reset', client: local });
    else this.drop(local);
  }

  /** Stops listening to the bus and the fallback's sweep timer; unregisters from the status registry. */
  close(): void {
    this.unregister();
    this.stopListening();
    this.fallback.close();
  }

  /**
   * The draft `pk` parameter (`:<base64>:`) of a client id: a keyed hash, the same on every
   * instance; undefined where client ids are not hashed (then no `pk` is sent).
   */
  partitionKey(clientId: string): string | undefined {
    return this.partitionKeys?.(clientId);
  }

  /** The decision, reported as `ratelimit.decision` when it was an HTTP request's. */
  private decided(
    call: LimiterCall,
    result: RateLimitResult,
    fallback: boolean,
    release?: () => void,
  ): LimiterDecision {
    if (call.request && this.events) {
      this.events.emit('ratelimit.decision', { clientId: call.clientId, route: call.route, result, fallback });
    }
    return release ? { result, fallback, release } : { result, fallback };
  }

  /** A fresh lease token when the call holds slots, some policy has a concurrency tier and `store` can release. */
  private leaseTokenFor(call: LimiterCall, store: RateLimitStore): string | undefined {
    if (!call.holdSlots || !store.release || !call.policies.some((policy) => policy.concurrency)) return undefined;
    return this.leaseTokens.take();
  }

  /**
   * Frees an admitted call's slots in the store that took them (the Redis store, or the
   * fallback when it decided), off the request path; a release Redis could not be asked
   * for is retried once it answers again (see {@link releaseSlots}), any other failure is
   * logged at most once per 10 s.
   */
  private releaser(
    store: RateLimitStore,
    clientId: string,
    policies: readonly RateLimitPolicy[],
    leaseToken: string | undefined,
    result: RateLimitResult,
  ): (() => void) | undefined {
    if (leaseToken === undefined || !result.allowed) return undefined;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.releaseSlots(store, clientId, policies, leaseToken).catch((error: unknown) => {
        // Redis unreachable: the connection reports the outage, and the release is retried.
        if (error instanceof RedisUnavailableError || !this.releaseErrors.due()) return;
        this.logger.warn(`concurrency slot release failed (the lease frees the slot): ${(error as Error).message}`);
      });
    };
  }

  /**
   * Gives a call's slots back. When the Redis store cannot be reached, they are given back
   * once its connection is ready again, unless their lease ended first: a Redis outage must
   * not leave a client's slots taken by requests long finished (up to `leaseMs`, a minute
   * by default), refusing its requests after the outage.
   */
  private releaseSlots(
    store: RateLimitStore,
    clientId: string,
    policies: readonly RateLimitPolicy[],
    leaseToken: string,
  ): Promise<void> {
    const release = () => store.release!(clientId, policies, leaseToken);
    return release().catch((error: unknown) => {
      if (store === this.store && this.redis && error instanceof RedisUnavailableError) {
        const leaseMs = Math.max(...policies.map((policy) => policy.concurrency?.leaseMs ?? 0));
        this.redis.undoWhenReady(`slots:${leaseToken}`, leaseMs, release);
      }
      throw error;
    });
  }

  /** The call's Redis deadline: its own, or its request's (shared with the response cache). */
  private deadlineOf(call: Omit<LimiterCall, 'cost'>): Deadline | undefined {
    if (call.deadline || !call.request || !this.redis) return call.deadline;
    return requestDeadline(call.request, this.redis.commandTimeoutMs);
  }

  /** The client's HMAC with a Redis connection (never a raw id on the bus); the raw id without. */
  private localId(clientId: string): string {
    return this.hashId ? this.hashId(clientId) : clientId;
  }

  /** Drops this instance's state of a client, by the id {@link localId} gives. */
  private drop(local: string): void {
    this.blocks?.clear(local);
    this.fallback.forget(local);
  }
}

/** Whether a concurrency tier rejected the call (its slots free whenever a request ends, not at a known time). */
function rejectedBySlots(result: RateLimitResult): boolean {
  return !result.allowed && result.tiers.some((tier) => tier.kind === 'concurrency' && !tier.allowed && !tier.shadow);
}
