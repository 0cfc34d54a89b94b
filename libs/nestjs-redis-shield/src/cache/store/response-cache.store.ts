import { Cluster } from 'ioredis';
import { clockArg } from '../../redis/store/lua/prelude.lua.js';
import { messages, withCode } from '../../core/errors.js';
import type { KeyBuilder } from '../../redis/engine/key-builder.js';
import type { RedisConnection, RunOptions, ScriptRunner } from '../../redis/store/redis.connection.js';
import { GENERATION_BUMP_LUA } from './lua/generation-bump.lua.js';
import { INDEX_ADD_LUA } from './lua/index-add.lua.js';
import { INDEX_PEEK_LUA } from './lua/index-peek.lua.js';
import { INDEX_TAKE_LUA } from './lua/index-take.lua.js';
import { LEASE_RELEASE_LUA } from './lua/lease-release.lua.js';
import { LOOKUP_LUA } from './lua/lookup.lua.js';
import { REGISTRY_ADD_LUA } from './lua/registry-add.lua.js';
import { REGISTRY_PRUNE_LUA } from './lua/registry-prune.lua.js';

export { compilePattern } from '../engine/pattern.js';

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
/**
 * The most registry fields or index members one admin command or script reads or deletes:
 * the `COUNT` of each registry `HSCAN`, the fields of each prune script and `HDEL`, the
 * members each take step pops. It bounds the work Redis does for one call of an
 * invalidation, so other clients are served between them.
 */
export const ADMIN_BATCH = 500;
/** Indexes taken at the same time: at most this many take steps are in flight. */
export const TAKES_IN_FLIGHT = 100;
/** The most expired members one index write or count prunes; later calls prune the rest. */
export const PRUNE_BATCH = 100;
/** A registry field's value: `<until ms>|<payload>`. */
const REGISTRY_VALUE = /^(\d+)\|([\s\S]*)$/;

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
  /**
   * The variant cap of the entry's route and scope: a new variant beyond it is not
   * stored (checked atomically where the variant is indexed, so concurrent writes cannot
   * overshoot it). Undefined: no cap.
   */
  maxVariants?: number;
}

/**
 * An invalidation the store ran, as the in-process caches must hear of it: one entry
 * (`key`, its digest), one user's or one tag's entries (by HMAC, never the raw value), or
 * anything else (`all`: routes, paths, several tags, everything).
 */
export type CacheInvalidation = { scope: 'all' } | { scope: 'key' | 'user' | 'tag'; value: string };

/** Called once an invalidation's Redis work is done (or failed part way); may return a promise the store awaits. */
export type InvalidationListener = (what: CacheInvalidation) => Promise<void> | void;

/**
 * The distributed cache's tallies that {@link ResponseCacheStore.addCounts} adds beside
 * hits and misses, each summed over every instance in the stats hash.
 */
export interface CacheCountDetail {
  /** Hits answered from an instance's in-process L1 (a part of the hits, not beside them). */
  l1Hits: number;
  /** Stale entries served within their stale-while-revalidate window. */
  staleRevalidate: number;
  /** Stale entries served because recomputing failed (stale-if-error). */
  staleError: number;
  /** Lease waits that ended with the other instance's entry. */
  leaseFilled: number;
  /** Lease waits that ended at the follower timeout (the waiter ran the handler). */
  leaseTimeout: number;
  /** Lease waits that ended with the lease free (the waiter led). */
  leaseLeader: number;
  /** Background refreshes that stored a fresh entry. */
  refreshStored: number;
  /** Background refreshes that failed. */
  refreshFailed: number;
}

/** The stats hash field of each {@link CacheCountDetail} tally (`hits` and `misses` keep their names). */
const DETAIL_FIELDS: Readonly<Record<keyof CacheCountDetail, string>> = {
  l1Hits: 'l1_hits',
  staleRevalidate: 'stale_revalidate',
  staleError: 'stale_error',
  leaseFilled: 'lease_filled',
  leaseTimeout: 'lease_timeout',
  leaseLeader: 'lease_leader',
  refreshStored: 'refresh_stored',
  refreshFailed: 'refresh_failed',
};
const DETAIL_KEYS = Object.keys(DETAIL_FIELDS) as (keyof CacheCountDetail)[];

/** Statistics of the response cache, summed over every instance. */
export interface ResponseCacheStats {
  /** Lookups answered from the cache, since the stats hash was created: `l1Hits + l2Hits`. */
  hits: number;
  /** Hits answered from an instance's in-process L1, without Redis. */
  l1Hits: number;
  /** Hits answered from Redis (hits counted by versions that predate the L1 count count here). */
  l2Hits: number;
  /** Lookups that ran the handler. */
  misses: number;
  /** Stale entries served, by reason. */
  stale: {
    /** Within their stale-while-revalidate window (a background refresh followed). */
    revalidate: number;
    /** Because recomputing failed (stale-if-error). */
    error: number;
  };
  /** Misses that waited on another instance's lease, by how the wait ended. */
  leaseWaits: {
    /** The other instance's entry arrived. */
    filled: number;
    /** The follower timeout passed; the waiter ran the handler itself. */
    timeout: number;
    /** The lease became free; the waiter ran the handler as the new leader. */
    leader: number;
  };
  /** Background refreshes after a stale-while-revalidate serve, by outcome. */
  refreshes: {
    /** A fresh entry was stored. */
    stored: number;
    /** The handler or the write failed; the stale entry stayed. */
    failed: number;
  };
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

/** A lease asked for with a lookup: the caller's token and how long the lease lasts. */
export interface LeaseRequest {
  /** Unique to the caller (see `leaseToken`); only its holder releases the lease. */
  token: string;
  /** Lifetime in ms: a leader that dies holds the lease no longer. */
  ms: number;
}

/** What {@link ResponseCacheStore.lookup} found. */
export interface LookupReply {
  /** The stored bytes, or null. */
  entry: Buffer | null;
  /** `taken`: the caller leads the missing entry; `held`: another caller does; `none`: no lease asked or needed. */
  lease: 'taken' | 'held' | 'none';
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
 * invalidation runs (a) bump the generation; (b) read its registries (HSCAN pages),
 * unregister what it clears, then take those indexes, each in steps that pop at most
 * `ADMIN_BATCH` members, until a step leaves the index empty; (c) bump again;
 * (d) UNLINK the entries taken. Each step waits for the previous one's replies and every
 * key lives on one master, so Redis executes them in that order. Hence:
 * - A miss that began before (a): if its step 3 ran after (a), it sees a new generation
 *   and deletes its entry. Otherwise its steps 1–2 completed before (a). A registry
 *   field goes only when an invalidation unregisters it (and then takes its indexes) or
 *   once every entry registered through it expired, and HSCAN returns every field
 *   present for the whole scan: so (b) finds the miss's registrations, unless a
 *   concurrent invalidation unregistered them first and takes their indexes itself. The
 *   miss's index memberships were there when either began taking an index, and a take
 *   pops until the index is empty, so each membership is popped by some invalidation
 *   (or pruned once expired), and the one that popped it deletes the entry in its (d).
 *   Either way nothing stale stays.
 * - Members added to an index while (b) takes it need not be taken: the write that added
 *   one ran its step 1 after (a), so if its miss began before (a), its step 3 (later
 *   still) sees the bump and deletes the entry; if the miss began after (a), its entry
 *   is not stale and stays listed. So a take may end at the first step that empties the
 *   index: taking in several steps misses nothing stale.
 * - Any write whose index membership (b) popped, in whichever step: its step 1 came
 *   before that step, so it read the generation before (c). If it stored before (d),
 *   (d) deletes it; if after, its step 3 runs after (c), a bump it cannot have read, so
 *   it deletes itself. So no stored entry is missing from an index it was added to.
 * - A write registers only after indexing and an invalidation unregisters a field before
 *   taking its indexes, so any registration it removes belongs to a membership it takes.
 *   Registry fields otherwise go only once every entry registered through them expired:
 *   a script re-reads each field the scan saw expired and deletes it only if it still
 *   is, so a registration that raced with the scan is never lost.
 *
 * Residual windows: if Redis fails between steps 2 and 3 and the compensating delete
 * fails too, the entry may stay until its TTL; an invalidation that fails part way
 * bumps and deletes what it already took before it rejects, but a take step whose
 * reply is lost leaves its live members' entries unindexed until their TTL; a failover
 * that loses acknowledged writes (asynchronous replication) can lose a bump or a delete;
 * index members outlive their entry by {@link INDEX_GRACE_MS}, which must cover the
 * delay between steps 1 and 2. A take ends at the first step that leaves the index
 * empty: writes would have to add more than `ADMIN_BATCH` members to that one
 * index between two of its steps to prolong it.
 *
 * **Cost of the admin calls.** No single command or script does work proportional to
 * the keyspace: admin calls work in bounded batches, so Redis serves other clients
 * between them. With B = `ADMIN_BATCH` (500):
 * - a registry (R fields, E of them expired) is read with `HSCAN … COUNT B`, about
 *   ⌈R / B⌉ calls (`COUNT` is a hint: a small hash comes whole in one), then
 *   ⌈E / B⌉ prune scripts of at most B fields; the M fields an invalidation clears are
 *   unregistered by ⌈M / B⌉ `HDEL`s of at most B fields;
 * - an index of n members is taken by max(1, ⌈n / B⌉) scripts, each popping at most B
 *   members (`ZPOPMIN`); at most `TAKES_IN_FLIGHT` indexes are taken at a time;
 * - each entry taken costs one `UNLINK` (they live in different slots), 1 000 in flight;
 * - the two generation bumps are O(1).
 *
 * The largest script reads or deletes at most B fields or B members (plus O(1)); the
 * largest command returns or deletes about B fields. Round trips grow with what is
 * deleted, as they must (each entry is named), but each one is short. Expired index
 * members are pruned by writes and counts, at most `PRUNE_BATCH` per call.
 *
 * Request-path calls take the caller's {@link RunOptions}; `write` and `remove` never
 * trip the breaker. Admin calls (clear*, stats) use a 5 s budget per command.
 */
export class ResponseCacheStore {
  private readonly keys: KeyBuilder;
  private readonly indexAdd: ScriptRunner<number>;
  private readonly indexTake: ScriptRunner<(number | string)[]>;
  private readonly indexPeek: ScriptRunner<(number | string)[]>;
  private readonly registryAdd: ScriptRunner<number>;
  private readonly registryPrune: ScriptRunner<string[]>;
  private readonly generationBump: ScriptRunner<number>;
  private readonly lookupScript: ScriptRunner<[Buffer | null, number?]>;
  private readonly leaseRelease: ScriptRunner<number>;

  /**
   * Registers the cache scripts on `connection`, whose key builder and breaker every call uses.
   *
   * @param invalidated Told of every invalidation once Redis deleted what it covers (the
   *   in-process caches, through the instance bus).
   */
  constructor(
    private readonly connection: RedisConnection,
    private readonly invalidated?: InvalidationListener,
  ) {
    this.keys = connection.keys;
    this.indexAdd = connection.defineScript('cache_index_add', INDEX_ADD_LUA);
    this.indexTake = connection.defineScript('cache_index_take', INDEX_TAKE_LUA);
    this.indexPeek = connection.defineScript('cache_index_peek', INDEX_PEEK_LUA);
    this.registryAdd = connection.defineScript('cache_registry_add', REGISTRY_ADD_LUA);
    this.registryPrune = connection.defineScript('cache_registry_prune', REGISTRY_PRUNE_LUA);
    this.generationBump = connection.defineScript('cache_generation_bump', GENERATION_BUMP_LUA);
    this.lookupScript = connection.defineScript('cache_lookup', LOOKUP_LUA, { buffers: true });
    this.leaseRelease = connection.defineScript('cache_lease_release', LEASE_RELEASE_LUA);
  }

  /**
   * The stored bytes of an entry and, when it is missing and `lease` is given, the lease
   * on computing it: one script call (see `lookup.lua`). `taken`: the caller leads and
   * must {@link releaseLease} when done; `held`: another caller (on any instance) leads.
   */
  async lookup(digest: string, lease: LeaseRequest | undefined, options?: RunOptions): Promise<LookupReply> {
    const [entry, leased] = await this.lookupScript(
      [this.keys.cacheEntry(digest), this.keys.cacheLease(digest)],
      lease ? [lease.token, Math.max(1, Math.round(lease.ms))] : ['', 0],
      {
        command: 'cache_read',
        ...options,
        // Timed out, yet Redis ran it (a stall ended): a lease it took has no leader, and
        // would hold every other instance's miss for the lease's lifetime. Give it back.
        onLateReply: lease
          ? (reply) => {
              const [, taken] = (reply ?? []) as [unknown, number?];
              if (Number(taken) === 1)
                this.releaseLease(digest, lease.token, { whileOpen: true }).catch(() => undefined);
            }
          : undefined,
      },
    );
    if (entry) return { entry, lease: 'none' };
    return { entry: null, lease: leased === undefined ? 'none' : Number(leased) === 1 ? 'taken' : 'held' };
  }

  /**
   * Takes the lease on an entry whose stored value is stale (its refresh), unless another
   * caller holds it: one `SET NX`. Never trips the breaker.
   */
  async takeLease(digest: string, lease: LeaseRequest, options: RunOptions = {}): Promise<boolean> {
    const reply = await this.connection.run(
      (client) => client.set(this.keys.cacheLease(digest), lease.token, 'PX', Math.max(1, Math.round(lease.ms)), 'NX'),
      {
        command: 'cache_lease',
        ...options,
        tripsBreaker: false,
        // Taken after the caller gave up: nobody refreshes; give it back.
        onLateReply: (late) => {
          if (late === 'OK') this.releaseLease(digest, lease.token, { whileOpen: true }).catch(() => undefined);
        },
      },
    );
    return reply === 'OK';
  }

  /** Gives up a lease if `token` still holds it (see `lease-release.lua`). Never trips the breaker. */
  async releaseLease(digest: string, token: string, options: RunOptions = {}): Promise<void> {
    await this.leaseRelease([this.keys.cacheLease(digest)], [token], {
      command: 'cache_lease',
      ...options,
      tripsBreaker: false,
    });
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
   * is undefined), pruning at most `PRUNE_BATCH` expired members: one script call,
   * O(log n + PRUNE_BATCH) in Redis. Counted per scope, so one user's variants never
   * fill another's (or the shared) quota. Entries deleted by an invalidation that did
   * not take this index still count until their TTL ends (see {@link clearRoutes}).
   */
  async liveVariants(routeId: string, userId: string | undefined, options?: RunOptions): Promise<number> {
    const [count] = await this.indexPeek([this.variantIndex(routeId, userId)], [this.now(), 0, PRUNE_BATCH], options);
    return Number(count);
  }

  /**
   * Recounts a route's variants in one scope by the entries that still exist, dropping
   * the members whose entry an invalidation (or eviction) deleted: `clearPaths`,
   * `clearUser` and `clearTags` cannot reach the variant indexes, so without this a route
   * at its cap would answer `BYPASS` until the deleted entries' TTL. Reads at most `limit`
   * members and checks each with one `EXISTS` (entries live in different slots): call it
   * rarely (the interceptor does, at the cap, at most once per interval and scope). An
   * entry being written (indexed, not yet stored) counts as gone: the count may then be
   * one low for that write.
   */
  async pruneVariants(
    routeId: string,
    userId: string | undefined,
    limit: number,
    options?: RunOptions,
  ): Promise<number> {
    const index = this.variantIndex(routeId, userId);
    const members = await this.connection.run((client) => client.zrange(index, '0', String(limit - 1)), {
      command: 'cache_variants',
      ...options,
    });
    const exists = await Promise.all(
      members.map((digest) =>
        this.connection.run((client) => client.exists(this.keys.cacheEntry(digest)), {
          command: 'cache_variants',
          ...options,
        }),
      ),
    );
    const gone = members.filter((_, i) => exists[i] === 0);
    for (let start = 0; start < gone.length; start += ADMIN_BATCH) {
      const batch = gone.slice(start, start + ADMIN_BATCH);
      await this.connection.run((client) => client.zrem(index, ...batch), {
        ...BOOKKEEPING,
        ...options,
        tripsBreaker: false,
      });
    }
    return members.length - gone.length;
  }

  /**
   * Stores an entry for `ttlMs` ms unless an invalidation ran since `generation` was
   * read, or its route and scope already hold `ref.maxVariants` live variants: then
   * nothing stays stored and the result is false. Four round trips (see the class
   * comment): the variant index (where the cap is checked atomically), the other indexes,
   * the registries and the entry, the generation; commands of one step run concurrently,
   * one per key, so the write is valid on a Cluster. Never trips the breaker.
   */
  async write(
    ref: CacheEntryRef,
    value: Buffer,
    ttlMs: number,
    generation: string,
    options: RunOptions = {},
  ): Promise<boolean> {
    if (!Number.isInteger(ttlMs) || ttlMs <= 0) {
      throw withCode(new RangeError(messages.invalidArgument('ttlMs', ttlMs, 'a positive integer')), 'invalidArgument');
    }
    const run: RunOptions = { ...options, tripsBreaker: false };
    const entry = this.keys.cacheEntry(ref.digest);
    const now = this.now();
    const lifetime = ttlMs + INDEX_GRACE_MS;
    const [variants, ...others] = this.indexesOf(ref);
    // The variant index first: when the cap refuses the entry, nothing else is written.
    const admitted = await this.indexAdd(
      [variants],
      [now, ref.digest, lifetime, PRUNE_BATCH, ...(ref.maxVariants === undefined ? [] : [ref.maxVariants])],
      run,
    );
    if (Number(admitted) === 0) return false;
    await Promise.all(others.map((key) => this.indexAdd([key], [now, ref.digest, lifetime, PRUNE_BATCH], run)));
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
    try {
      await this.connection.run((client) => client.unlink(this.keys.cacheEntry(digest)), {
        ...options,
        tripsBreaker: false,
      });
    } finally {
      await this.invalidated?.({ scope: 'key', value: digest });
    }
  }

  /**
   * Deletes every entry of one user (by raw id; only its HMAC is used); returns how many
   * existed. Costs O(entries removed): the user's per-route variant counts are left to
   * expire with the entries they counted.
   *
   * Cost, for n members in the user's index: 2 generation bumps, max(1, ⌈n / 500⌉) take
   * steps, one `UNLINK` per live entry (1 000 per round trip). Largest script: one take
   * step, popping at most `ADMIN_BATCH` members.
   */
  clearUser(userId: string): Promise<number> {
    return this.invalidate((taken) => this.take([this.keys.cacheIndex('user', userId)], taken), {
      scope: 'user',
      value: this.keys.hashId(userId),
    });
  }

  /**
   * Deletes every entry carrying any of `tags`; returns how many existed.
   *
   * Cost: as {@link clearUser}, per tag index (at most `TAKES_IN_FLIGHT` at a time).
   */
  clearTags(tags: readonly string[]): Promise<number> {
    const unique = [...new Set(tags)];
    return this.invalidate(
      (taken) =>
        this.take(
          unique.map((tag) => this.keys.cacheIndex('tag', tag)),
          taken,
        ),
      unique.length === 1 ? { scope: 'tag', value: this.keys.hashId(unique[0]) } : { scope: 'all' },
    );
  }

  /**
   * Deletes every entry of the routes whose template (`/api/v1/models/:id`) matches;
   * returns how many existed. Their shared variant counts restart from zero; a user's
   * count on those routes restarts when the user's entries are cleared or expire.
   *
   * Cost: 2 generation bumps; the routes registry read (about ⌈R / 500⌉ `HSCAN`s for R
   * routes, plus ⌈E / 500⌉ prune scripts for E expired fields); ⌈M / 500⌉ `HDEL`s for M
   * matched routes; each matched route's index and shared-variant index taken in
   * max(1, ⌈n / 500⌉) steps for n members; one `UNLINK` per live entry. Largest script:
   * `ADMIN_BATCH` fields or members.
   */
  clearRoutes(match: (template: string) => boolean): Promise<number> {
    return this.invalidate(async (taken) => {
      const routes = (await this.routes()).filter((route) => match(route.template));
      await this.unregister('routes', routes);
      await this.take(
        routes.flatMap((route) => this.routeIndexes(route.id)),
        taken,
      );
    });
  }

  /**
   * Deletes every entry of the concrete paths (`/api/v1/models/gpt-4`) that match;
   * returns how many existed.
   *
   * Cost: 2 generation bumps; the paths registry read (about ⌈P / 500⌉ `HSCAN`s for P
   * paths, plus ⌈E / 500⌉ prune scripts for E expired fields); ⌈M / 500⌉ `HDEL`s for M
   * matched paths; each matched path's index taken in max(1, ⌈n / 500⌉) steps for n
   * members; one `UNLINK` per live entry. Largest script: `ADMIN_BATCH` fields or
   * members, however many paths the registry lists.
   */
  clearPaths(match: (path: string) => boolean): Promise<number> {
    return this.invalidate(async (taken) => {
      const paths = (await this.paths()).filter((path) => match(path.path));
      await this.unregister('paths', paths);
      await this.take(
        paths.map((path) => this.keys.cacheIndex('path', path.path)),
        taken,
      );
    });
  }

  /**
   * Deletes every entry of this cache, found through the route and path indexes, and
   * those indexes and registries; nothing else in Redis. User and tag indexes cannot be
   * listed without a SCAN: they keep members of deleted entries until pruned or expired.
   *
   * Cost: both registries read (as in {@link clearRoutes} and {@link clearPaths}) and
   * unregistered whole in `HDEL`s of 500 fields; 2 indexes per route and 1 per path taken
   * in max(1, ⌈n / 500⌉) steps each; 2 generation bumps; one `UNLINK` per live entry.
   * Largest script: `ADMIN_BATCH` fields or members.
   */
  clearAll(): Promise<number> {
    return this.invalidate(async (taken) => {
      const [routes, paths] = await Promise.all([this.routes(), this.paths()]);
      await Promise.all([this.unregister('routes', routes), this.unregister('paths', paths)]);
      await this.take(
        [
          ...routes.flatMap((route) => this.routeIndexes(route.id)),
          ...paths.map((path) => this.keys.cacheIndex('path', path.path)),
        ],
        taken,
      );
    });
  }

  /**
   * Adds an instance's counts to the shared stats hash: one `MULTI` of an `HINCRBY` per
   * count that is not 0 (one round trip, applied as a whole), nothing when every count is
   * 0. `hits` is every hit, `detail.l1Hits` the part of them the L1 answered. Rejects with
   * a `RangeError` (`invalidArgument`) when a count is not a non-negative integer or
   * `l1Hits` exceeds `hits`, before Redis is touched.
   */
  async addCounts(hits: number, misses: number, detail: Partial<CacheCountDetail> = {}): Promise<void> {
    const fields: [string, number][] = [];
    const add = (name: string, field: string, count: number) => {
      if (!Number.isInteger(count) || count < 0) {
        throw withCode(
          new RangeError(messages.invalidArgument(name, count, 'a non-negative integer')),
          'invalidArgument',
        );
      }
      if (count > 0) fields.push([field, count]);
    };
    add('hits', 'hits', hits);
    add('misses', 'misses', misses);
    for (const key of DETAIL_KEYS) add(key, DETAIL_FIELDS[key], detail[key] ?? 0);
    if ((detail.l1Hits ?? 0) > hits) {
      throw withCode(
        new RangeError(messages.invalidArgument('l1Hits', detail.l1Hits, `at most hits (${hits})`)),
        'invalidArgument',
      );
    }
    if (fields.length === 0) return;
    const key = this.keys.cacheMeta('stats');
    await this.connection.run(
      async (client) => {
        // One key: one slot on a Cluster, so one transaction anywhere.
        const transaction = client.multi();
        for (const [field, count] of fields) transaction.hincrby(key, field, count);
        const replies = await transaction.exec();
        if (!replies) throw new Error('the stats transaction was discarded');
        const failed = replies.find(([error]) => error);
        if (failed) throw failed[0];
      },
      { ...BOOKKEEPING, command: 'cache_stats_add' },
    );
  }

  /**
   * Hits (by tier), misses, the distributed cache's tallies, approximate entries, Redis
   * memory and a TTL sample; never a SCAN.
   *
   * Cost: the routes registry read (as in {@link clearRoutes}), one count script per
   * route (O(log n), at most `PRUNE_BATCH` expired members pruned, a sample of
   * ⌈{@link STATS_SAMPLE_SIZE} / routes⌉ members), one `PTTL` per sampled entry (1 000 at
   * most), one `INFO memory` per master.
   */
  async stats(): Promise<ResponseCacheStats> {
    const [counts, routes, memoryUsedBytes] = await Promise.all([
      this.connection.run(
        (client) =>
          client.hmget(this.keys.cacheMeta('stats'), 'hits', 'misses', ...DETAIL_KEYS.map((key) => DETAIL_FIELDS[key])),
        ADMIN,
      ),
      this.routes(),
      this.memoryUsed(),
    ]);
    const perRoute = routes.length === 0 ? 0 : Math.ceil(STATS_SAMPLE_SIZE / routes.length);
    const peeks = await Promise.all(
      routes.map((route) =>
        this.indexPeek([this.keys.cacheIndex('route', route.id)], [this.now(), perRoute, PRUNE_BATCH], ADMIN),
      ),
    );
    const entries = peeks.reduce((sum, [count]) => sum + Number(count), 0);
    const sample = [...new Set(peeks.flatMap((peek) => peek.slice(1).map(String)))].slice(0, STATS_SAMPLE_SIZE);
    const ttlsMs = await Promise.all(
      sample.map((digest) => this.connection.run((client) => client.pttl(this.keys.cacheEntry(digest)), ADMIN)),
    );
    const [hits, misses, ...rest] = counts.map((count) => Number(count ?? 0));
    const detail = Object.fromEntries(DETAIL_KEYS.map((key, i) => [key, rest[i]])) as Record<
      keyof CacheCountDetail,
      number
    >;
    return {
      hits,
      l1Hits: detail.l1Hits,
      l2Hits: Math.max(0, hits - detail.l1Hits),
      misses,
      stale: { revalidate: detail.staleRevalidate, error: detail.staleError },
      leaseWaits: { filled: detail.leaseFilled, timeout: detail.leaseTimeout, leader: detail.leaseLeader },
      refreshes: { stored: detail.refreshStored, failed: detail.refreshFailed },
      entries,
      memoryUsedBytes,
      ttlSeconds: summarize(ttlsMs.filter((ms) => ms > 0)),
    };
  }

  /** Every index an entry belongs to: its route, its route in its scope, its user (if any), each tag, its path. */
  private indexesOf(ref: CacheEntryRef): string[] {
    // The variant index first (see write).
    const indexes = [
      this.variantIndex(ref.route.id, ref.userId),
      this.keys.cacheIndex('route', ref.route.id),
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

  /** Removes fields from a registry, `ADMIN_BATCH` per `HDEL`, one at a time. */
  private async unregister(registry: 'routes' | 'paths', fields: readonly { field: string }[]): Promise<void> {
    const key = this.keys.cacheMeta(registry);
    for (let start = 0; start < fields.length; start += ADMIN_BATCH) {
      const names = fields.slice(start, start + ADMIN_BATCH).map(({ field }) => field);
      await this.connection.run((client) => client.hdel(key, ...names), { ...ADMIN, command: 'cache_unregister' });
    }
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

  /**
   * The live fields of a registry, as `[field, payload]`: `HSCAN` pages of about
   * `ADMIN_BATCH` fields, then the fields seen expired removed by compare-and-delete
   * scripts of at most `ADMIN_BATCH` fields (one at a time, after the scan, so their
   * number is ⌈expired / 500⌉ whatever the pages held).
   */
  private async registry(registry: 'routes' | 'paths'): Promise<[field: string, payload: string][]> {
    const key = this.keys.cacheMeta(registry);
    const values = new Map<string, string>();
    let cursor = '0';
    do {
      const [next, page] = await this.connection.run((client) => client.hscan(key, cursor, 'COUNT', ADMIN_BATCH), {
        ...ADMIN,
        command: 'cache_registry_scan',
      });
      // SCAN may return a field twice: the later page holds the newer value.
      for (let i = 0; i + 1 < page.length; i += 2) values.set(page[i], page[i + 1]);
      cursor = next;
    } while (cursor !== '0');

    // Only candidates: the script decides with the scripts' clock (Redis TIME by default)
    // and keeps a field a registration renewed since the page was read. A live field
    // taken for expired here stays listed; an expired one taken for live costs an empty take.
    const now = this.connection.clock.now();
    const expired = [...values]
      .filter(([, value]) => !(Number(REGISTRY_VALUE.exec(value)?.[1] ?? -1) >= now))
      .map(([field]) => field);
    for (let start = 0; start < expired.length; start += ADMIN_BATCH) {
      const batch = expired.slice(start, start + ADMIN_BATCH);
      for (const field of await this.registryPrune([key], [this.now(), ...batch], ADMIN)) values.delete(field);
    }

    const live: [string, string][] = [];
    for (const [field, value] of values) {
      const payload = REGISTRY_VALUE.exec(value)?.[2];
      if (payload !== undefined) live.push([field, payload]);
    }
    return live;
  }

  /**
   * Bump, take the indexes, bump again, delete: see the class comment for why in this
   * order. If taking fails part way, the members already popped are in no index any more:
   * their entries are still deleted (after the second bump, best effort) before the
   * failure is reported. The listener hears of it unless the first bump failed: nothing
   * was deleted then, so no in-process copy is older than Redis (and, Redis being down,
   * a publish would only fail and log a second line for one outage).
   */
  private async invalidate(
    collect: (taken: Set<string>) => Promise<void>,
    what: CacheInvalidation = { scope: 'all' },
  ): Promise<number> {
    await this.bumpGeneration();
    try {
      const taken = new Set<string>();
      try {
        await collect(taken);
      } catch (error) {
        await this.bumpGeneration().catch(() => undefined);
        await this.unlink([...taken]).catch(() => undefined);
        throw error;
      }
      await this.bumpGeneration();
      return await this.unlink([...taken]);
    } finally {
      // After the deletes (or a failure part way, which may have deleted some): an
      // in-process copy read from Redis before them must go.
      await this.invalidated?.(what);
    }
  }

  private bumpGeneration(): Promise<number> {
    return this.generationBump([this.keys.cacheMeta('gen')], [this.now(), GENERATION_TTL_MS], ADMIN);
  }

  /**
   * Empties indexes, `TAKES_IN_FLIGHT` at a time, each in steps of at most
   * `ADMIN_BATCH` members until one leaves it empty; adds the live digests to `taken`.
   */
  private async take(indexes: readonly string[], taken: Set<string>): Promise<void> {
    const queue = [...new Set(indexes)];
    let next = 0;
    const worker = async () => {
      while (next < queue.length) {
        const index = queue[next++];
        let left: number;
        do {
          const [count, ...live] = await this.indexTake([index], [this.now(), ADMIN_BATCH], ADMIN);
          for (const digest of live) taken.add(String(digest));
          left = Number(count);
        } while (left > 0);
      }
    };
    await Promise.all(Array.from({ length: Math.min(TAKES_IN_FLIGHT, queue.length) }, worker));
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
    return clockArg(this.connection.clock);
  }
}

/** Min, median (lower middle) and max of TTLs in ms, as whole seconds rounded up. */
function summarize(ttlsMs: number[]): ResponseCacheStats['ttlSeconds'] {
  if (ttlsMs.length === 0) return null;
  const seconds = ttlsMs.map((ms) => Math.ceil(ms / 1000)).sort((a, b) => a - b);
  return { min: seconds[0], median: seconds[Math.floor((seconds.length - 1) / 2)], max: seconds[seconds.length - 1] };
}
