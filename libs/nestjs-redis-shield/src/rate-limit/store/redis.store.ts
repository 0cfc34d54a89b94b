import { createHash } from 'node:crypto';
import type { Deadline } from '../../core/deadline.js';
import type { RedisConnection, ScriptRunner } from '../../redis/store/redis.connection.js';
import { EncodedArgs } from '../../redis/store/script-command.js';
import type { RateLimitPolicy, TierResult } from '../engine/rate-limit.types.js';
import {
  policyCost,
  type RateLimitStore,
  type RateLimitStoreDecision,
  type RateLimitStoreRequest,
} from './store.interface.js';
import { CONCURRENCY_RELEASE_LUA } from './lua/concurrency-release.lua.js';
import { ALGORITHM_CODES, POLICY_FLAGS, RATE_LIMIT_LUA, REPLY_PER_TIER } from './lua/rate-limit.lua.js';
import { DecisionBatch } from './decision-batch.js';
import { slotResult, tierResult } from './tier-result.js';

/** The last part of a policy's slot ZSET key: `~` is never in a policy name, so no policy's hash can be named so. */
const SLOTS_KEY_PART = '~slots';

/**
 * Counters in Redis: one hash per (policy, client) with one field per tier (see
 * `stateFields`), and one ZSET of lease tokens per (policy, client) for a concurrency tier,
 * all keys of a client under one hash tag. Every decision is part of one script call
 * (EVALSHA): one round trip whatever the number of tiers and policies, with the other
 * decisions of its event-loop turn (see `DecisionBatch`); a release is one more call,
 * after the response.
 */
export class RedisRateLimitStore implements RateLimitStore {
  private readonly batch: DecisionBatch;
  private readonly releaseScript: ScriptRunner<number>;

  /** Registers the rate-limit and release scripts on `connection`; every call goes through its deadline and breaker. */
  constructor(private readonly connection: RedisConnection) {
    this.batch = new DecisionBatch(connection, connection.defineEncodedScript<string[]>('rate_limit', RATE_LIMIT_LUA));
    this.releaseScript = connection.defineScript<number>('rate_limit_release', CONCURRENCY_RELEASE_LUA);
  }

  consume(request: RateLimitStoreRequest): Promise<RateLimitStoreDecision> {
    return this.run(request, (policy) => policyCost(request, policy), 'c');
  }

  peek(request: Omit<RateLimitStoreRequest, 'cost'>): Promise<RateLimitStoreDecision> {
    return this.run(request, () => 0, 'p');
  }

  reset(clientId: string, policies: readonly RateLimitPolicy[], options: { deadline?: Deadline } = {}) {
    return this.resetHashed(this.connection.keys.hashId(clientId), policies, options);
  }

  /** Deletes the client's counters and its concurrency slots (they are the client's in-flight requests). */
  async resetHashed(hash: string, policies: readonly RateLimitPolicy[], options: { deadline?: Deadline } = {}) {
    const keys = policies.map((policy) => this.connection.keys.rateLimitOfHash(hash, policy.name));
    for (const policy of policies) {
      if (policy.concurrency) keys.push(this.connection.keys.rateLimitOfHash(hash, policy.name, SLOTS_KEY_PART));
    }
    if (keys.length === 0) return;
    // One DEL: the keys share the client's hash tag, so this is valid on a Cluster too.
    await this.connection.run((client) => client.del(...keys), options);
  }

  /** One call (its own command timeout, never a request's deadline): the script removes the token from each slot ZSET. */
  async release(clientId: string, policies: readonly RateLimitPolicy[], leaseToken: string): Promise<void> {
    const keys: string[] = [];
    for (const policy of policies) if (policy.concurrency) keys.push(this.slotsKey(clientId, policy));
    if (keys.length > 0) await this.releaseScript(keys, [leaseToken]);
  }

  private async run(
    { clientId, policies, deadline, leaseToken }: Omit<RateLimitStoreRequest, 'cost'>,
    costOf: (policy: RateLimitPolicy) => number,
    mode: 'c' | 'p',
  ): Promise<RateLimitStoreDecision> {
    const keys: string[] = [];
    const definitions: EncodedArgs[] = [];
    const costs: number[] = [];
    for (const policy of policies) {
      keys.push(this.connection.keys.rateLimit(clientId, policy.name));
      if (policy.concurrency) keys.push(this.slotsKey(clientId, policy));
      definitions.push(policyDefinition(policy));
      costs.push(costOf(policy));
    }
    // The lease token rides on the mode (`c<token>`): a request without one sends no byte for it.
    const reply = await this.batch.decide(keys, leaseToken ? mode + leaseToken : mode, definitions, costs, deadline);
    return decode(parseIntegers(reply), policies);
  }

  /** The ZSET of a client's slots in a policy's concurrency tier (the client's hash tag, like its counters). */
  private slotsKey(clientId: string, policy: RateLimitPolicy): string {
    return this.connection.keys.rateLimit(clientId, policy.name, SLOTS_KEY_PART);
  }
}

const FIELDS = new WeakMap<RateLimitPolicy, string[]>();
const ARGS = new WeakMap<RateLimitPolicy, EncodedArgs>();

/**
 * A policy's definition in the script's ARGV, built and encoded once per policy (and sent
 * once per batch): flags (shadow, concurrency), tier count, then with a concurrency tier
 * its slot limit and lease, then field, algorithm code, limit and window of each tier.
 */
function policyDefinition(policy: RateLimitPolicy): EncodedArgs {
  let encoded = ARGS.get(policy);
  if (!encoded) {
    const fields = stateFields(policy);
    const slots = policy.concurrency;
    const flags = (policy.shadow ? POLICY_FLAGS.shadow : 0) + (slots ? POLICY_FLAGS.concurrency : 0);
    const args = [String(flags), String(policy.tiers.length)];
    if (slots) args.push(String(slots.limit), String(slots.leaseMs));
    policy.tiers.forEach((tier, t) =>
      args.push(fields[t], String(ALGORITHM_CODES[tier.algorithm]), String(tier.limit), String(tier.windowMs)),
    );
    encoded = new EncodedArgs(args);
    ARGS.set(policy, encoded);
  }
  return encoded;
}

/**
 * The hash field of each tier of a policy: a small integer (0-127) taken from a SHA-1 of
 * the tier's name, algorithm and window, unique within the policy. Redis stores such a
 * field in one byte of the client's listpack, which keeps the three default tiers about
 * 16 B per client smaller than their names. Deriving it from the tier, not its
 * position, keeps state across a reordering; a changed window or algorithm starts from a
 * fresh state, as it must.
 */
export function stateFields(policy: RateLimitPolicy): string[] {
  let fields = FIELDS.get(policy);
  if (!fields) {
    const digests = policy.tiers.map((tier) =>
      createHash('sha1').update(`${tier.name}|${tier.algorithm}|${tier.windowMs}`).digest(),
    );
    // Byte i of each digest, for the first i that separates every tier; names as a last resort.
    fields = policy.tiers.map((tier) => tier.name);
    for (let i = 0; i < 20; i++) {
      const candidate = digests.map((digest) => String(digest[i] & 127));
      if (new Set(candidate).size === candidate.length) {
        fields = candidate;
        break;
      }
    }
    FIELDS.set(policy, fields);
  }
  return fields;
}

/**
 * The integers of the script's reply, a string of integers separated by single spaces,
 * read in one pass without a string per integer. A fraction is cut off (toward zero), as
 * Redis cuts a Lua number it replies as an integer.
 */
export function parseIntegers(reply: string): number[] {
  const values: number[] = [];
  let value = 0;
  let sign = 1;
  let fraction = false;
  for (let i = 0; i < reply.length; i++) {
    const code = reply.charCodeAt(i);
    if (code === 32) {
      values.push(sign * value);
      value = 0;
      sign = 1;
      fraction = false;
    } else if (code === 45) {
      sign = -1;
    } else if (code === 46) {
      fraction = true;
    } else if (!fraction) {
      value = value * 10 + (code - 48);
    }
  }
  values.push(sign * value);
  return values;
}

/** Maps the script's integers back onto the policies' tiers. */
function decode(reply: number[], policies: readonly RateLimitPolicy[]): RateLimitStoreDecision {
  const tiers: TierResult[] = [];
  let offset = 2;
  for (const policy of policies) {
    for (const tier of policy.tiers) {
      tiers.push(
        tierResult(policy, tier, {
          allowed: reply[offset] === 1,
          remaining: reply[offset + 1],
          resetMs: reply[offset + 2],
          // -1: the cost exceeds the tier's limit, no wait lets it pass.
          retryAfterMs: reply[offset + 3] < 0 ? Infinity : reply[offset + 3],
        }),
      );
      offset += REPLY_PER_TIER;
    }
    if (policy.concurrency) {
      tiers.push(
        slotResult(policy, policy.concurrency, {
          allowed: reply[offset] === 1,
          remaining: reply[offset + 1],
          resetMs: reply[offset + 2],
          retryAfterMs: reply[offset + 3],
        }),
      );
      offset += REPLY_PER_TIER;
    }
  }
  return { allowed: reply[0] === 1, nowMs: reply[1], tiers };
}
