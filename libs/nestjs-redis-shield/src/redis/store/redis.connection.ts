import { Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Cluster, ReplyError } from 'ioredis';
import { Writable } from 'node:stream';
import type { RedisCommandOutcome, RedisConnectionState, ShieldEvents } from '../../core/events/shield-events.js';
import type { ShieldStatus } from '../../core/events/shield-status.js';
import { CircuitBreaker } from '../engine/circuit-breaker.js';
import { PendingUndos } from '../engine/pending-undos.js';
import type { Clock } from '../../core/clock.js';
import type { RedisBudget } from '../../core/deadline.js';
import { ReplyTimer } from './reply-timer.js';
import { isNoScript, LuaScript, type ScriptArg, ScriptCommand } from './script-command.js';
import { TIMED_OUT, withTimeout } from '../../core/timeout.js';
import { shieldError } from '../../core/errors.js';
import { KeyBuilder } from '../engine/key-builder.js';
import { createRedisClient } from './redis-client.factory.js';
import { RedisCommandError, RedisUnavailableError } from '../engine/redis.errors.js';
import type { RedisClient, ResolvedRedisOptions } from '../engine/redis.options.js';

/** How one call may use Redis. */
export interface RunOptions {
  /** @internal The request's deadline (the library's own request-path calls); without one the call gets `commandTimeoutMs`. */
  deadline?: RedisBudget;
  /** A budget in ms for calls outside a request (admin, stats); ignored with `deadline`. */
  timeoutMs?: number;
  /** Whether a timeout or connection error counts towards opening the breaker. Default true. */
  tripsBreaker?: boolean;
  /** The label of the call in the latency metric; scripts pass their name. Default `other`. */
  command?: string;
  /**
   * @internal Told of the reply that arrives after the call timed out (Redis ran the
   * command anyway, e.g. once a stall ended): state the command created for a caller that
   * gave up can be undone (the cache's lease).
   */
  onLateReply?: (reply: unknown) => void;
  /** @internal Send even while the circuit is open: bookkeeping that undoes a late reply, once Redis answered again. */
  whileOpen?: boolean;
  /**
   * @internal Write at once instead of with the rest of this event-loop turn's commands:
   * for a call made at the end of the turn (from `setImmediate`) that gathered its turn's work already.
   */
  immediate?: boolean;
}

/** A registered Lua script: `KEYS` and `ARGV` in, the script's reply out. */
export type ScriptRunner<T> = (keys: string[], args: (string | number)[], options?: RunOptions) => Promise<T>;

/** @internal A script runner whose arguments may be `EncodedArgs` runs (see `RedisConnection.defineEncodedScript`). */
export type EncodedScriptRunner<T> = (keys: string[], args: ScriptArg[], options?: RunOptions) => Promise<T>;

/** Redis replies that mean "not available now" rather than "your command is wrong". */
const UNAVAILABLE_REPLIES = /^(LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|NOREPLICAS)\b/;

/** What the race against a reply resolves with when the reply is late (see `ReplyTimer`). */
const LATE = Symbol('late');
/** How long shutdown waits for buffers to reach Redis before closing the connection, in ms. */
const DRAIN_TIMEOUT_MS = 2000;
/** At most this many undos wait for Redis to answer again (see {@link RedisConnection.undoWhenReady}). */
const MAX_PENDING_UNDOS = 10_000;
/** How long shutdown waits for `QUIT` to close the socket before cutting it, in ms. */
const QUIT_GRACE_MS = 1000;

/**
 * One Redis connection: the ioredis client, its circuit breaker, its key builder and
 * clock. Every command of the library goes through {@link run}, which applies the
 * deadline, fails fast while the breaker is open and turns errors into the typed
 * {@link RedisUnavailableError} / {@link RedisCommandError}.
 */
export class RedisConnection implements OnModuleInit, OnApplicationShutdown {
  /** The ioredis client (created by the library, or the one passed in). */
  readonly client: RedisClient;
  /** @internal The key builder of this connection (its prefix and hash secret). */
  readonly keys: KeyBuilder;
  /** Where this connection reads time. */
  readonly clock: Clock;
  /** The per-request Redis deadline, in ms; also the budget of a call without one. */
  readonly commandTimeoutMs: number;
  private readonly logger: Logger;
  private readonly breaker: CircuitBreaker;
  private readonly ownsClient: boolean;
  private readonly scripts = new Map<string, LuaScript>();
  private readonly drains = new Set<() => Promise<void>>();
  private readonly undos = new PendingUndos(MAX_PENDING_UNDOS);
  private readonly detach: () => void;
  private readonly unregister: () => void;
  private probeTimer: NodeJS.Timeout | undefined;
  private clientReady: boolean;
  private currentState: RedisConnectionState;
  private everReady: boolean;
  private warnedUnreachable = false;
  private closed = false;
  /** Parts of this connection that are down now, with why (see {@link noteOutage}). */
  private readonly outages = new Map<string, string>();
  private outageLogged = false;
  private readyLogged = false;
  /** The socket corked for this event-loop turn's commands, if any (see {@link batchWrites}). */
  private corked: Writable | undefined;
  /** Waiting for the corked batch to be written (see {@link afterWrite}). */
  private written: ((at: number) => void)[] = [];

  /** @internal Created by `RedisModule`; inject it with `@InjectRedisConnection()`. */
  constructor(
    /** The connection's name (`default` unless named). */
    readonly name: string,
    private readonly options: ResolvedRedisOptions,
    private readonly events: ShieldEvents,
    status?: ShieldStatus,
  ) {
    this.logger = new Logger(`Redis:${name}`);
    this.keys = new KeyBuilder({ prefix: options.keyPrefix, hashSecret: options.hashSecret });
    this.clock = options.clock;
    this.commandTimeoutMs = options.commandTimeoutMs;
    this.ownsClient = options.client === undefined;
    this.breaker = new CircuitBreaker(options.breaker, (state, failures) => this.onBreaker(state, failures));
    if (options.usesDevSecret) {
      this.logger.warn('hashSecret is not set: ids in keys are hashed with an insecure development key');
    }
    this.client = options.client ?? createRedisClient(options, name);
    this.clientReady = this.client.status === 'ready';
    this.everReady = this.clientReady;
    this.currentState = this.clientReady ? 'ready' : 'down';
    this.detach = this.watchClient();
    this.unregister = status?.addConnection(this) ?? (() => undefined);
  }

  /** `ready` when connected with the breaker closed; `down` otherwise. */
  get state(): RedisConnectionState {
    return this.currentState;
  }

  /** Whether the circuit breaker is open: calls fail at once, a probe PINGs per interval. */
  get circuitOpen(): boolean {
    return !this.breaker.allowsCalls;
  }

  /**
   * Runs one operation against Redis within the deadline. Never sends while the breaker
   * is open. The budget is Redis time: its clock starts when the command is written to
   * the socket, and a reply counts as late (a timeout, and evidence for the breaker) only
   * when it is still missing after the budget once the socket was read, so a busy event
   * loop is never taken for a slow Redis (see `Deadline` and `ReplyTimer`).
   */
  async run<T>(operation: (client: RedisClient) => Promise<T>, options: RunOptions = {}): Promise<T> {
    if (!this.breaker.allowsCalls && !options.whileOpen) throw new RedisUnavailableError('circuit-open', this.name);
    const { deadline } = options;
    const budgetMs = deadline ? deadline.remainingMs() : (options.timeoutMs ?? this.commandTimeoutMs);
    // Budget (nearly) spent by earlier calls of this request: Redis is not to blame.
    if (budgetMs < 1) throw new RedisUnavailableError('timeout', this.name);
    const startedAt = performance.now();
    let outcome: RedisCommandOutcome = 'ok';
    let settle: ((timedOut: boolean) => void) | undefined;
    let done = false;
    let silentForMs = 0;
    let writtenAt = startedAt;
    let resolveLate: (late: typeof LATE) => void = () => undefined;
    const late = new Promise<typeof LATE>((resolve) => (resolveLate = resolve));
    const timer = new ReplyTimer(budgetMs, (silent, at) => {
      silentForMs = silent;
      writtenAt = at;
      resolveLate(LATE);
    });
    try {
      if (!options.immediate) this.batchWrites();
      const reply = operation(this.client);
      this.afterWrite((at) => {
        if (done) return;
        settle = deadline?.onTheWire();
        timer.written(at);
      });
      const result = await Promise.race([reply, late]);
      if (result === LATE) {
        outcome = 'timeout';
        const { onLateReply } = options;
        if (onLateReply) reply.then(onLateReply, () => undefined);
        // Evidence against Redis only when it left the command unanswered for a fair share of
        // the deadline: the tail of a budget another call of the same request used up proves nothing.
        if (silentForMs >= this.commandTimeoutMs / 2) this.failed(writtenAt, options);
        throw new RedisUnavailableError('timeout', this.name);
      }
      this.breaker.recordSuccess();
      return result;
    } catch (error) {
      if (error instanceof RedisUnavailableError) throw error;
      if (error instanceof ReplyError && !UNAVAILABLE_REPLIES.test((error as Error).message)) {
        outcome = 'error';
        throw new RedisCommandError(this.name, { cause: error });
      }
      outcome = 'unavailable';
      this.failed(startedAt, options);
      throw new RedisUnavailableError('connection', this.name, { cause: error });
    } finally {
      done = true;
      timer.stop();
      settle?.(outcome === 'timeout');
      if (this.events.has('redis.command')) {
        this.events.emit('redis.command', {
          connection: this.name,
          command: options.command ?? 'other',
          durationMs: performance.now() - startedAt,
          outcome,
        });
      }
    }
  }

  /**
   * Registers a Lua script once per connection (EVALSHA, or EVAL on a socket that has not
   * loaded it yet and again after NOSCRIPT, e.g. after a restart or `SCRIPT FLUSH`) and
   * returns its runner. With `buffers`, string replies arrive as Buffers (binary values,
   * e.g. cache entries).
   */
  defineScript<T>(name: string, lua: string, options: { buffers?: boolean } = {}): ScriptRunner<T> {
    return this.defineEncodedScript<T>(name, lua, options);
  }

  /**
   * @internal {@link defineScript} for the library's hot scripts: an argument may also be
   * an `EncodedArgs` run (arguments that are the same on every call, encoded once).
   */
  defineEncodedScript<T>(
    name: string,
    lua: string,
    { buffers = false }: { buffers?: boolean } = {},
  ): EncodedScriptRunner<T> {
    const known = this.scripts.get(name);
    if (known !== undefined && known.lua !== lua) throw shieldError('scriptConflict', name);
    const script = known ?? new LuaScript(lua);
    this.scripts.set(name, script);
    const encoding = buffers ? null : 'utf8';
    const send = (client: RedisClient, keys: string[], args: ScriptArg[]) =>
      client.sendCommand(new ScriptCommand(script, keys, args, encoding, client.options.keyPrefix)) as Promise<T>;
    return (keys, args, options) =>
      this.run(
        (client) =>
          send(client, keys, args).catch((error: unknown) => {
            if (!isNoScript(error)) throw error;
            // Redis lost its scripts: this call loads it again, once per socket.
            script.forget();
            return send(client, keys, args);
          }),
        { command: name, ...options },
      );
  }

  /** Round-trip time of a PING, in ms. */
  async ping(options?: RunOptions): Promise<number> {
    const started = performance.now();
    await this.run((client) => client.ping(), { command: 'ping', ...options });
    return performance.now() - started;
  }

  /**
   * Iterates the keys matching a SCAN pattern on every master (every node of a Cluster),
   * in batches of `count`. Each SCAN call is bounded by `timeoutMs`.
   */
  async *scan(pattern: string, { count = 1000, timeoutMs = 5000 } = {}): AsyncGenerator<string> {
    const nodes = this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await this.run(() => node.scan(cursor, 'MATCH', pattern, 'COUNT', count), {
          timeoutMs,
          command: 'scan',
        });
        cursor = next;
        yield* keys;
      } while (cursor !== '0');
    }
  }

  /**
   * Gives the first connection attempt a moment before the app serves, so its first
   * requests are counted in Redis rather than in the fallback. Never blocks start-up
   * for long: a refused connection ends the wait at once, a silent one after 2 s.
   */
  async onModuleInit(): Promise<void> {
    if (this.client.status === 'ready') return;
    const events = ['ready', 'error', 'end'] as const;
    let done: () => void = () => undefined;
    const settled = new Promise<void>((resolve) => (done = resolve));
    for (const event of events) this.client.once(event, done);
    await withTimeout(settled, 2000);
    for (const event of events) this.client.off(event, done);
  }

  /**
   * Registers work that must reach Redis before this connection closes on shutdown
   * (buffers to flush). Drains run after the HTTP server stopped and in-flight requests
   * finished (Nest closes the server before `onApplicationShutdown`), all together, for
   * at most 2 s. Returns the function that unregisters it.
   */
  beforeClose(drain: () => Promise<void>): () => void {
    this.drains.add(drain);
    return () => this.drains.delete(drain);
  }

  /**
   * @internal Runs `undo` once this connection is ready again (after an outage, the breaker
   * closed), unless `lapsesInMs` passed first: for bookkeeping a request could not do while
   * Redis was unreachable, such as giving back a cache lease or a concurrency slot it held,
   * which would otherwise hold every other request until it lapses. Kept by `key` (a later
   * one replaces it), at most 10 000; an undo that fails then waits for the next time.
   */
  undoWhenReady(key: string, lapsesInMs: number, undo: () => Promise<unknown>): void {
    if (!this.closed) this.undos.keep(key, lapsesInMs, undo);
  }

  /**
   * Runs the registered drains, then closes the client with `QUIT` (cut after 1 s) if the
   * library created it; a client passed in is left open.
   */
  async onApplicationShutdown(): Promise<void> {
    if (this.closed) return;
    await this.drain();
    this.closed = true;
    this.undos.clear();
    this.stopProbing();
    this.unregister();
    const ended = () => this.client.status === 'end';
    if (!this.ownsClient || ended()) return this.detach();
    const closedSocket = new Promise<void>((resolve) => this.client.once('end', resolve));
    // QUIT lets replies in flight arrive; wait for the socket to close so the app leaves
    // no handle behind, and cut it if Redis does not answer.
    const quit = this.client.quit().then(
      () => closedSocket,
      () => undefined,
    );
    await withTimeout(quit, QUIT_GRACE_MS, { unref: true });
    if (!ended()) this.client.disconnect();
    this.detach();
  }

  private async drain(): Promise<void> {
    if (this.drains.size === 0) return;
    const jobs = [...this.drains].map((drain) => drain().catch((error: unknown) => this.logger.warn(String(error))));
    await withTimeout(Promise.all(jobs), DRAIN_TIMEOUT_MS);
  }

  private failed(startedAt: number, options: RunOptions): void {
    if (options.tripsBreaker !== false) this.breaker.recordFailure(startedAt);
  }

  /**
   * Corks the client's socket until the end of this event-loop turn, so the commands of
   * all requests handled in the turn leave in one `writev` instead of one write each
   * (+15 % req/s on a cache hit, `node bench/ab.mjs`). Unlike ioredis auto-pipelining,
   * each command is still sent by ioredis itself: fail-fast without an offline queue,
   * script loading and replies are unchanged. Standalone and Sentinel clients only.
   */
  private batchWrites(): void {
    if (this.corked || this.client instanceof Cluster) return;
    const stream = (this.client as { stream?: unknown }).stream;
    if (!(stream instanceof Writable) || !stream.writable) return;
    stream.cork();
    this.corked = stream;
    setImmediate(() => {
      const written = this.written;
      this.corked = undefined;
      this.written = [];
      stream.uncork();
      const at = performance.now();
      for (const onWritten of written) onWritten(at);
    });
  }

  /**
   * Calls `onWritten` with the time (`performance.now()`, ms) the commands handed to the
   * client so far left for the socket: when this turn's corked batch is written, or now.
   */
  private afterWrite(onWritten: (at: number) => void): void {
    if (this.corked) this.written.push(onWritten);
    else onWritten(performance.now());
  }

  private watchClient(): () => void {
    const onReady = () => {
      this.clientReady = true;
      this.everReady = true;
      this.update('connected');
      // A fresh connection is news: probe at once instead of waiting out the interval.
      if (this.circuitOpen) this.probe({ now: true });
    };
    const onClose = () => {
      this.clientReady = false;
      this.update('connection closed');
    };
    const onError = (error: Error) => {
      // ioredis reports every failed reconnect; the state change is the one log line.
      if (!this.everReady && this.currentState === 'down' && !this.warnedUnreachable) {
        this.warnedUnreachable = true;
        // An outage from the start: the outage log's one line for it (see noteOutage).
        this.outages.set('commands', error.message);
        this.outageLogged = true;
        this.logger.warn(`unreachable (${error.message}); serving without Redis and reconnecting`);
      }
    };
    this.client.on('ready', onReady);
    this.client.on('close', onClose);
    this.client.on('end', onClose);
    this.client.on('error', onError);
    return () => {
      this.client.off('ready', onReady);
      this.client.off('close', onClose);
      this.client.off('end', onClose);
      this.client.off('error', onError);
    };
  }

  private onBreaker(state: 'open' | 'closed', failures: number): void {
    if (state === 'open') {
      this.startProbing();
      this.update(`circuit open after ${failures} failures`);
    } else {
      this.stopProbing();
      this.update('circuit closed');
    }
  }

  private startProbing(): void {
    if (this.probeTimer || this.closed) return;
    this.probeTimer = setInterval(() => this.probe(), this.options.breaker.probeIntervalMs);
    this.probeTimer.unref();
  }

  private stopProbing(): void {
    clearInterval(this.probeTimer);
    this.probeTimer = undefined;
  }

  /** One PING per interval while open; its answer closes the circuit. */
  private probe(options?: { now?: boolean }): void {
    if (!this.breaker.tryAcquireProbe(options)) return;
    void withTimeout(this.client.ping(), this.options.breaker.probeIntervalMs).then(
      (reply) => (reply === TIMED_OUT ? this.breaker.probeFailed() : this.breaker.probeSucceeded()),
      () => this.breaker.probeFailed(),
    );
  }

  private update(reason: string): void {
    const state: RedisConnectionState = this.clientReady && this.breaker.allowsCalls ? 'ready' : 'down';
    if (state === this.currentState || this.closed) return;
    this.currentState = state;
    this.noteOutage('commands', state === 'down', reason);
    this.events.emit('redis.state', { connection: this.name, state, reason });
    if (state === 'ready') this.undos.runAll();
  }

  /**
   * The one place this connection's outages are logged, whoever noticed them (its
   * commands, its instance bus): one line when the first part goes down, one when the last
   * comes back, never one per retry or per part, so one Redis outage is one line each way.
   *
   * @internal For the library's parts that ride on this connection.
   * @param part What noticed it (`commands`, `instance bus`).
   * @param down Whether that part is down now.
   */
  noteOutage(part: string, down: boolean, reason: string): void {
    if (down) {
      if (!this.outages.has(part)) this.outages.set(part, reason);
      if (this.outageLogged || this.closed) return;
      this.outageLogged = true;
      this.logger.warn(part === 'commands' ? `down (${reason})` : `${part} down (${reason})`);
      return;
    }
    if (!this.outages.delete(part)) {
      // The first connection is news too.
      if (part === 'commands' && !this.readyLogged) {
        this.readyLogged = true;
        this.logger.log(`ready (${reason})`);
      }
      return;
    }
    if (this.outages.size > 0 || !this.outageLogged) return;
    this.outageLogged = false;
    this.readyLogged = true;
    this.logger.log(`ready (${reason})`);
  }
}
