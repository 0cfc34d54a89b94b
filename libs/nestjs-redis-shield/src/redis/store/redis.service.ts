import { Cluster } from 'ioredis';
import { messages, withCode } from '../../core/errors.js';
import { RedisJsonError } from '../engine/redis.errors.js';
import type { RedisConnection, RunOptions, ScriptRunner } from './redis.connection.js';

/** A value `set` accepts. */
export type RedisValue = string | number | Buffer;

/** Options of writes that take a time to live. */
export interface SetOptions extends RunOptions {
  /** Time to live in seconds (fractions allowed); none keeps the key until deleted. */
  ttlSeconds?: number;
}

/**
 * Everyday Redis operations on one named connection, for application code: plain and
 * JSON values, counters, expiry, and SCAN over every master. Keys are relative to the
 * connection's `keyPrefix`. Every call is bounded by the deadline and breaker of the
 * connection and throws `RedisUnavailableError` / `RedisCommandError` on failure.
 *
 * @example
 * constructor(@InjectRedis() private readonly redis: RedisService) {}
 * await this.redis.setJson('data', { key: 'value' }, { ttlSeconds: 300 });
 */
export class RedisService {
  /** Wraps one connection; `RedisModule` creates one per connection, so inject it rather than construct it. */
  constructor(
    /** The connection every call goes through. */
    readonly connection: RedisConnection,
  ) {}

  /** The underlying ioredis client, for commands this service does not wrap. */
  get client() {
    return this.connection.client;
  }

  /** Reads a string value; `null` when the key does not exist. */
  async get(key: string, options?: RunOptions): Promise<string | null> {
    return this.connection.run((client) => client.get(this.key(key)), options);
  }

  /** Sets a value, with an expiry when `ttlSeconds` is given. */
  async set(key: string, value: RedisValue, options: SetOptions = {}): Promise<void> {
    const { ttlSeconds } = options;
    if (ttlSeconds === undefined) {
      await this.connection.run((client) => client.set(this.key(key), value), options);
      return;
    }
    if (!(ttlSeconds > 0) || !Number.isFinite(ttlSeconds)) {
      throw withCode(
        new RangeError(messages.invalidArgument('ttlSeconds', ttlSeconds, 'a positive number of seconds')),
        'invalidArgument',
      );
    }
    const ttlMs = Math.max(1, Math.round(ttlSeconds * 1000));
    await this.connection.run((client) => client.set(this.key(key), value, 'PX', ttlMs), options);
  }

  /** Reads and parses a JSON value; `null` when the key does not exist. */
  async getJson<T = unknown>(key: string, options?: RunOptions): Promise<T | null> {
    const raw = await this.get(key, options);
    if (raw === null) return null;
    try {
      return JSON.parse(raw) as T;
    } catch (error) {
      throw new RedisJsonError(key, 'parse', { cause: error });
    }
  }

  /** Serialises and stores a JSON value; `undefined`, functions, BigInt and cycles are refused. */
  async setJson(key: string, value: unknown, options?: SetOptions): Promise<void> {
    let text: string | undefined;
    try {
      text = JSON.stringify(value);
    } catch (error) {
      throw new RedisJsonError(key, 'serialise', { cause: error });
    }
    if (text === undefined) {
      throw new RedisJsonError(key, 'serialise', { cause: new TypeError(`${typeof value} has no JSON form`) });
    }
    await this.set(key, text, options);
  }

  /** Increments an integer counter by 1 (a missing key counts from 0); returns the new value. */
  async incr(key: string, options?: RunOptions): Promise<number> {
    return this.connection.run((client) => client.incr(this.key(key)), options);
  }

  /** Increments an integer counter by `increment` (may be negative); returns the new value. */
  async incrBy(key: string, increment: number, options?: RunOptions): Promise<number> {
    return this.connection.run((client) => client.incrby(this.key(key), increment), options);
  }

  /** Deletes keys; returns how many existed. Works across Cluster slots. */
  async del(keys: string | string[], options?: RunOptions): Promise<number> {
    const list = (Array.isArray(keys) ? keys : [keys]).map((key) => this.key(key));
    if (list.length === 0) return 0;
    return this.connection.run(async (client) => {
      if (!(client instanceof Cluster)) return client.del(...list);
      // One DEL per key: a multi-key DEL across slots is refused by Cluster (CROSSSLOT).
      const counts = await Promise.all(list.map((key) => client.del(key)));
      return counts.reduce((sum, count) => sum + count, 0);
    }, options);
  }

  /** Whether the key exists. */
  async exists(key: string, options?: RunOptions): Promise<boolean> {
    return (await this.connection.run((client) => client.exists(this.key(key)), options)) === 1;
  }

  /** Sets a key's time to live, in seconds; `false` when the key does not exist. */
  async expire(key: string, ttlSeconds: number, options?: RunOptions): Promise<boolean> {
    const ttlMs = Math.max(1, Math.round(ttlSeconds * 1000));
    return (await this.connection.run((client) => client.pexpire(this.key(key), ttlMs), options)) === 1;
  }

  /** Seconds to live (rounded down): `-1` without expiry, `-2` when the key does not exist. */
  async ttl(key: string, options?: RunOptions): Promise<number> {
    return this.connection.run((client) => client.ttl(this.key(key)), options);
  }

  /**
   * Iterates keys matching a glob `pattern` (relative to the prefix) on every master,
   * yielding them without the prefix. Uses SCAN, never KEYS.
   */
  async *scan(pattern = '*', options?: { count?: number; timeoutMs?: number }): AsyncGenerator<string> {
    for await (const key of this.connection.scan(this.connection.keys.scanPattern(pattern), options)) {
      yield this.connection.keys.stripPrefix(key);
    }
  }

  /**
   * Registers a Lua script once (EVALSHA, NOSCRIPT handled); the runner prefixes its
   * keys like every other method here.
   */
  defineScript<T>(name: string, lua: string): ScriptRunner<T> {
    const run = this.connection.defineScript<T>(name, lua);
    return (keys, args, options) =>
      run(
        keys.map((key) => this.key(key)),
        args,
        options,
      );
  }

  private key(key: string): string {
    return this.connection.keys.data(key);
  }
}
