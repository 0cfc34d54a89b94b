import { Cluster } from 'ioredis';
import type { KeyBuilder } from '../../redis/key-builder.js';
import type { RedisConnection, RunOptions, ScriptRunner } from '../../redis/redis.connection.js';
import { GENERATION_BUMP_LUA } from './generation-bump.lua.js';
import { INDEX_ADD_LUA } from './index-add.lua.js';
import { INDEX_PEEK_LUA } from './index-peek.lua.js';
import { INDEX_TAKE_LUA } from './index-take.lua.js';
import { REGISTRY_ADD_LUA } from './registry-add.lua.js';
import { REGISTRY_READ_LUA } from './registry-read.lua.js';

export { compilePattern } from './pattern.js';

/**
 * Extra lifetime, in ms, of index members and registry fields beyond the entry's TTL.
 * The entry is stored one round trip after it is indexed (and Cluster nodes' clocks
 * differ a little), so without it an index could forget an entry in its last moments.
 */
export const INDEX_GRACE_MS = 1000;

/** TTL of the generation key, in ms (30 days), refreshed by every invalidation. */
export const GENERATION_TTL_MS = 30 * 24 * 60 * 60 * 1000;

/** At most this many entries are sampled for the TTL statistics. */
export const STATS_SAMPLE_SIZE = 1000;

/** Admin calls (clear*, stats) are off the request path: a generous budget per command. */
const ADMIN: RunOptions = { timeoutMs: 5000 };
/** Counter flushes and compensating deletes: a cache bookkeeping failure never trips the breaker. */
const BOOKKEEPING: RunOptions = { timeoutMs: 5000, tripsBreaker: false };
/** Entries are deleted one command each (they live in different slots), this many at a time. */
const UNLINK_BATCH = 1000;

/** What the store needs to know about an entry to index it. */
export interface CacheEntryRef {
  /** The interceptor's digest of the request (base64url); never a path or user id. */
  digest: string;
  /** The handler (`ModelsController.one`) and its route template (`/api/v1/models/:id`). */
  route: {
    /** The handler id, e.g. `ModelsController.one`. */
    id: string;
    /** The route template, e.g. `/api/v1/models/:id`. */
    template: string;
  };
  /** The canonical request path without the query, e.g. `/api/v1/models/gpt-4`. */
  path: string;
  /** The raw user id of a per-user entry (only its HMAC is stored); undefined when shared. */
  userId?: string;
  /** The route's `@CacheTags`. */
  tags: readonly string[];
}

/** Statistics of the response cache, summed over every instance. */
export interface ResponseCacheStats {
  /** Lookups answered from the cache, since the stats hash was created. */
  hits: number;
  /** Lookups that ran the handler. */
  misses: number;
  /** Approximate live entries: the members of the route indexes (entries deleted through another index still count until pruned). */
  entries: number;
  /** `used_memory` of every master, summed, in bytes (the whole Redis, not only the cache). */
  memoryUsedBytes: number;
  /** Remaining TTL, in whole seconds rounded up, over a sample of at most 1 000 entries; null when none. */
  ttlSeconds: {
    /** Shortest remaining TTL in the sample, in seconds. */
    min: number;
    /** Median remaining TTL in the sample, in seconds. */
    median: number;
    /** Longest remaining TTL in the sample, in seconds. */
    max: number;
  } | null;
}

interface RegisteredRoute {
  field: string;
  id: string;
  template: string;
}

interface RegisteredPath {
  field: string;
  path: string;
}

/**
 * The Redis layout of the response cache. Entries are strings `cache:response:<digest>`
 * spread over a Cluster; ZSET indexes per route, user, tag and concrete path (member =
 * digest, score = expiry ms) make invalidation cost O(indexes + entries removed), never a
 * SCAN; two registries list the routes and paths with live entries, so `clearRoutes`,
 * `clearPaths` and `clearAll` find their indexes. Every key has a TTL (at least that of
 * the latest entry it lists) except the stats hash.
 *
 * **Generation check.** A miss reads the generation when it begins and passes it to
 * {@link write}. A write runs (1) add to every index, (2) register route and path + SET
 * the entry, (3) re-read the generation and delete its entry if it changed. An
 * invalidation runs (a) bump the generation, (b) read its registries, unregister what it
 * clears and take those indexes (read and delete in one script per index), (c) bump
 * again, (d) UNLINK the entries taken. Each step waits for the previous one's replies and
 * every key lives on one master, so Redis executes them in that order. Hence:
 * - A miss that began before (a): if its step 3 ran after (a), it sees a new generation
 *   and deletes its entry. Otherwise its steps 1–2 completed before (a), so (b) finds it
 *   in every index and registry and (d) deletes it. Either way nothing stale stays.
 * - Any write whose index membership (b) took: if it stored before (d), (d) deletes it;
 *   if after, its step 3 runs after (c), a bump it cannot have read when it began, so it
 *   deletes itself. So no stored entry is missing from an index it was added to.
 * - A write registers only after indexing and an invalidation unregisters before taking
 *   the indexes, so any registration it removes belongs to a membership it takes.
 *   Registry fields otherwise go only once every entry registered through them expired
 *   (checked in one script on the registry key), so a racing registration is never lost.
 *
 * Residual windows: if Redis fails between steps 2 and 3 and the compensating delete
 * fails too, the entry may stay until its TTL; a failover that loses acknowledged writes
 * (asynchronous replication) can lose a bump or a delete; index members outlive their
 * entry by {@link INDEX_GRACE_MS}, which must cover the delay between steps 1 and 2.
 *
 * Request-path calls take the caller's {@link RunOptions}; `write` and `remove` never
 * trip the breaker. Admin calls (clear*, stats) use a 5 s budget per command.
 */
export class ResponseCacheStore {
  private readonly keys: KeyBuilder;
  private readonly indexAdd: ScriptRunner<number>;
  private readonly indexTake: ScriptRunner<string[]>;
  private readonly indexPeek: ScriptRunner<(number | string)[]>;
  private readonly registryAdd: ScriptRunner<number>;
  private readonly registryRead: ScriptRunner<string[]>;
  private readonly generationBump: ScriptRunner<number>;

  /** Registers the cache scripts on `connection`, whose key builder and breaker every call uses. */
  constructor(private readonly connection: RedisConnection) {
    this.keys = connection.keys;
    this.indexAdd = connection.defineScript('cache_index_add', INDEX_ADD_LUA);
    this.indexTake = connection.defineScript('cache_index_take', INDEX_TAKE_LUA);
    this.indexPeek = connection.defineScript('cache_index_peek', INDEX_PEEK_LUA);
    this.registryAdd = connection.defineScript('cache_registry_add', REGISTRY_ADD_LUA);
    this.registryRead = connection.defineScript('cache_registry_read', REGISTRY_READ_LUA);
    this.generationBump = connection.defineScript('cache_generation_bump', GENERATION_BUMP_LUA);
  }

  /** The stored bytes of an entry, or null: exactly one GET. */
  read(digest: string, options?: RunOptions): Promise<Buffer | null> {
    return this.connection.run((client) => client.getBuffer(this.keys.cacheEntry(digest)), {
      command: 'cache_read',
      ...options,
    });
  }

  /** The current invalidation generation (`'0'` before the first invalidation); pass it to {@link write}. */
  async generation(options?: RunOptions): Promise<string> {
    const run = { command: 'cache_generation', ...options };
    return (await this.connection.run((client) => client.get(this.keys.cacheMeta('gen')), run)) ?? '0';
  }

  /**
   * Live entries of a route in one scope (one user's, or the shared ones when `userId`
   * is undefined), pruning expired members: one script call. Counted per scope, so one
   * user's variants never fill another's (or the shared) quota. Entries deleted by an
   * invalidation that did not take this index still count until their TTL ends (see
   * {@link clearRoutes}).
   */
  async liveVariants(routeId: string, userId: string | undefined, options?: RunOptions): Promise<number> {
    const [count] = await this.indexPeek([this.variantIndex(routeId, userId)], [this.now(), 0], options);
    return Number(count);
  }

  /**
   * Stores an entry for `ttlMs` ms unless an invalidation ran since `generation` was
   * read: then nothing stays stored and the result is false. Three round trips (see the
   * class comment); commands of one step run concurrently, one per key, so the write is
   * valid on a Cluster. Never trips the breaker.
   */
  async write(
    ref: CacheEntryRef,
    value: Buffer,
    ttlMs: number,
    generation: string,
    options: RunOptions = {},
  ): Promise<boolean> {
    if (!Number.isInteger(ttlMs) || ttlMs <= 0) throw new RangeError(`ttlMs must be a positive integer, got ${ttlMs}`);
    const run: RunOptions = { ...options, tripsBreaker: false };
    const entry = this.keys.cacheEntry(ref.digest);
    const now = this.now();
    const lifetime = ttlMs + INDEX_GRACE_MS;
    await Promise.all(this.indexesOf(ref).map((key) => this.indexAdd([key], [now, ref.digest, lifetime], run)));
    try {
      const route = JSON.stringify({ id: ref.route.id, template: ref.route.template });
      await Promise.all([
        this.register('routes', this.keys.cacheHash('route', ref.route.id), route, now, lifetime, run),
        this.register('paths', this.keys.cacheHash('path', ref.path), ref.path, now, lifetime, run),
        this.connection.run((client) => client.set(entry, value, 'PX', ttlMs), { ...run, command: 'cache_write' }),
      ]);
      if ((await this.generation(run)) === generation) return true;
    } catch (error) {
      // The SET may have landed: never leave an entry whose generation was not confirmed.
      await this.discard(entry);
      throw error;
    }
    await this.discard(entry);
    return false;
  }

  /** Deletes one entry (e.g. corrupt); its index members are pruned when met. Never trips the breaker. */
  async remove(digest: string, options: RunOptions = {}): Promise<void> {
    await this.connection.run((client) => client.unlink(this.keys.cacheEntry(digest)), {
      ...options,
      tripsBreaker: false,
    });
  }

  /**
   * Deletes every entry of one user (by raw id; only its HMAC is used); returns how many
   * existed. Costs O(entries removed): the user's per-route variant counts are left to
   * expire with the entries they counted.
   */
  clearUser(userId: string): Promise<number> {
    return this.invalidate(() => this.take([this.keys.cacheIndex('user', userId)]));
  }

  /** Deletes every entry carrying any of `tags`; returns how many existed. */
  clearTags(tags: readonly string[]): Promise<number> {
    return this.invalidate(() => this.take([...new Set(tags)].map((tag) => this.keys.cacheIndex('tag', tag))));
  }

  /**
   * Deletes every entry of the routes whose template (`/api/v1/models/:id`) matches;
   * returns how many existed. Their shared variant counts restart from zero; a user's
   * count on those routes restarts when the user's entries are cleared or expire.
   */
  clearRoutes(match: (template: string) => boolean): Promise<number> {
    return this.invalidate(async () => {
      const routes = (await this.routes()).filter((route) => match(route.template));
      await this.unregister('routes', routes);
      return this.take(routes.flatMap((route) => this.routeIndexes(route.id)));
    });
  }

  /** Deletes every entry of the concrete paths (`/api/v1/models/gpt-4`) that match; returns how many existed. */
  clearPaths(match: (path: string) => boolean): Promise<number> {
    return this.invalidate(async () => {
      const paths = (await this.paths()).filter((path) => match(path.path));
      await this.unregister('paths', paths);
      return this.take(paths.map((path) => this.keys.cacheIndex('path', path.path)));
    });
  }

  /**
   * Deletes every entry of this cache, found through the route and path indexes, and
   * those indexes and registries; nothing else in Redis. User and tag indexes cannot be
   * listed without a SCAN: they keep members of deleted entries until pruned or expired.
   */
  clearAll(): Promise<number> {
    return this.invalidate(async () => {
      const [routes, paths] = await Promise.all([this.routes(), this.paths()]);
      await Promise.all([this.unregister('routes', routes), this.unregister('paths', paths)]);
      return this.take([
        ...routes.flatMap((route) => this.routeIndexes(route.id)),
        ...paths.map((path) => this.keys.cacheIndex('path', path.path)),
      ]);
    });
  }

  /** Adds an instance's hit and miss counts to the shared stats hash: one round trip. */
  async addCounts(hits: number, misses: number): Promise<void> {
    const key = this.keys.cacheMeta('stats');
    const jobs: Promise<number>[] = [];
    for (const [field, count] of [
      ['hits', hits],
      ['misses', misses],
    ] as const) {
      if (!Number.isInteger(count) || count < 0) throw new RangeError(`${field} must be a non-negative integer`);
      // Issued together, so ioredis pipelines them: one round trip.
      if (count > 0) jobs.push(this.connection.run((client) => client.hincrby(key, field, count), BOOKKEEPING));
    }
    await Promise.all(jobs);
  }

  /** Hits, misses, approximate entries, Redis memory and a TTL sample; never a SCAN. */
  async stats(): Promise<ResponseCacheStats> {
    const [counts, routes, memoryUsedBytes] = await Promise.all([
      this.connection.run((client) => client.hmget(this.keys.cacheMeta('stats'), 'hits', 'misses'), ADMIN),
      this.routes(),
      this.memoryUsed(),
    ]);
    const perRoute = routes.length === 0 ? 0 : Math.ceil(STATS_SAMPLE_SIZE / routes.length);
    const peeks = await Promise.all(
      routes.map((route) => this.indexPeek([this.keys.cacheIndex('route', route.id)], [this.now(), perRoute], ADMIN)),
    );
    const entries = peeks.reduce((sum, [count]) => sum + Number(count), 0);
    const sample = [...new Set(peeks.flatMap((peek) => peek.slice(1).map(String)))].slice(0, STATS_SAMPLE_SIZE);
    const ttlsMs = await Promise.all(
      sample.map((digest) => this.connection.run((client) => client.pttl(this.keys.cacheEntry(digest)), ADMIN)),
    );
    return {
      hits: Number(counts[0] ?? 0),
      misses: Number(counts[1] ?? 0),
      entries,
      memoryUsedBytes,
      ttlSeconds: summarize(ttlsMs.filter((ms) => ms > 0)),
    };
  }

  /** Every index an entry belongs to: its route, its route in its scope, its user (if any), each tag, its path. */
  private indexesOf(ref: CacheEntryRef): string[] {
    const indexes = [
      this.keys.cacheIndex('route', ref.route.id),
      this.variantIndex(ref.route.id, ref.userId),
      this.keys.cacheIndex('path', ref.path),
    ];
    if (ref.userId !== undefined) indexes.push(this.keys.cacheIndex('user', ref.userId));
    for (const tag of new Set(ref.tags)) indexes.push(this.keys.cacheIndex('tag', tag));
    return indexes;
  }

  /** The index of a route's entries in one scope (a user's, or shared), which the variant cap counts. */
  private variantIndex(routeId: string, userId: string | undefined): string {
    // The user's part is hashed with the rest of the value: no raw user id in the key.
    return this.keys.cacheIndex('variant', userId === undefined ? `${routeId}\nshared` : `${routeId}\nuser:${userId}`);
  }

  /** The indexes a route's invalidation takes: all its entries, and its shared variants. */
  private routeIndexes(routeId: string): string[] {
    return [this.keys.cacheIndex('route', routeId), this.variantIndex(routeId, undefined)];
  }

  private register(
    registry: 'routes' | 'paths',
    field: string,
    payload: string,
    now: number | '',
    lifetime: number,
    options: RunOptions,
  ): Promise<number> {
    return this.registryAdd([this.keys.cacheMeta(registry)], [now, field, payload, lifetime], options);
  }

  private async unregister(registry: 'routes' | 'paths', fields: readonly { field: string }[]): Promise<void> {
    if (fields.length === 0) return;
    const names = fields.map(({ field }) => field);
    await this.connection.run((client) => client.hdel(this.keys.cacheMeta(registry), ...names), ADMIN);
  }

  /** The live routes of the registry (expired fields are dropped on the way). */
  private async routes(): Promise<RegisteredRoute[]> {
    const routes: RegisteredRoute[] = [];
    for (const [field, payload] of await this.registry('routes')) {
      try {
        const { id, template } = JSON.parse(payload) as Partial<RegisteredRoute>;
        if (typeof id === 'string' && typeof template === 'string') routes.push({ field, id, template });
      } catch {
        // Not written by this store: skip it rather than fail an invalidation.
      }
    }
    return routes;
  }

  /** The live concrete paths of the registry. */
  private async paths(): Promise<RegisteredPath[]> {
    return (await this.registry('paths')).map(([field, path]) => ({ field, path }));
  }

  private async registry(registry: 'routes' | 'paths'): Promise<[field: string, payload: string][]> {
    const flat = await this.registryRead([this.keys.cacheMeta(registry)], [this.now()], ADMIN);
    const pairs: [string, string][] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) pairs.push([flat[i], flat[i + 1]]);
    return pairs;
  }

  /** Bump, take the indexes, bump again, delete: see the class comment for why in this order. */
  private async invalidate(collect: () => Promise<string[]>): Promise<number> {
    await this.bumpGeneration();
    const digests = await collect();
    await this.bumpGeneration();
    return this.unlink(digests);
  }

  private bumpGeneration(): Promise<number> {
    return this.generationBump([this.keys.cacheMeta('gen')], [this.now(), GENERATION_TTL_MS], ADMIN);
  }

  /** Empties indexes (one script call each, concurrently); returns the distinct live digests. */
  private async take(indexes: readonly string[]): Promise<string[]> {
    const now = this.now();
    const members = await Promise.all(indexes.map((index) => this.indexTake([index], [now], ADMIN)));
    return [...new Set(members.flat())];
  }

  /** Deletes entries one command each (different slots); returns how many existed. */
  private async unlink(digests: readonly string[]): Promise<number> {
    let deleted = 0;
    for (let start = 0; start < digests.length; start += UNLINK_BATCH) {
      const batch = digests.slice(start, start + UNLINK_BATCH);
      const results = await Promise.all(
        batch.map((digest) => this.connection.run((client) => client.unlink(this.keys.cacheEntry(digest)), ADMIN)),
      );
      deleted += results.reduce((sum, result) => sum + result, 0);
    }
    return deleted;
  }

  /** Deletes an entry whose write was not confirmed; with its own budget, as the caller's may be spent. */
  private async discard(entry: string): Promise<void> {
    await this.connection
      .run((client) => client.unlink(entry), { ...BOOKKEEPING, timeoutMs: this.connection.commandTimeoutMs })
      .catch(() => undefined);
  }

  /** `used_memory` of every master (every node serving slots on a Cluster), in bytes. */
  private async memoryUsed(): Promise<number> {
    const { client } = this.connection;
    const nodes = client instanceof Cluster ? client.nodes('master') : [client];
    const infos = await Promise.all(nodes.map((node) => this.connection.run(() => node.info('memory'), ADMIN)));
    return infos.reduce((sum, info) => sum + Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? 0), 0);
  }

  /** ARGV[1] of the scripts: the app clock's ms, or '' for Redis TIME. */
  private now(): number | '' {
    const { clock } = this.connection;
    return clock.source === 'app' ? clock.now() : '';
  }
}

/** Min, median (lower middle) and max of TTLs in ms, as whole seconds rounded up. */
function summarize(ttlsMs: number[]): ResponseCacheStats['ttlSeconds'] {
  if (ttlsMs.length === 0) return null;
  const seconds = ttlsMs.map((ms) => Math.ceil(ms / 1000)).sort((a, b) => a - b);
  return { min: seconds[0], median: seconds[Math.floor((seconds.length - 1) / 2)], max: seconds[seconds.length - 1] };
}
