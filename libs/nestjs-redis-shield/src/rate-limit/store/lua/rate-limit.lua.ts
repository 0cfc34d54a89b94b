import { ALGORITHM_PRELUDE_LUA, type RateLimitAlgorithm } from '../../engine/algorithms/algorithm.js';
import { EXACT_ARITHMETIC_LUA } from '../../engine/algorithms/exact-arithmetic.js';
import { ALGORITHMS, RATE_LIMIT_ALGORITHMS, type RateLimitAlgorithmName } from '../../engine/algorithms/registry.js';
import { WINDOW_INDEX_LUA } from '../../engine/algorithms/window-index.js';
import { SCRIPT_PRELUDE_LUA } from '../../../redis/store/lua/prelude.lua.js';
import { CONCURRENCY_LUA } from './concurrency.lua.js';

/** Fields per tier in ARGV: field name, algorithm code, limit, window (ms). */
export const ARGS_PER_TIER = 4;
/**
 * Fields per policy in ARGV before its tiers: cost, flags, tier count; then, for a policy
 * with a concurrency tier only, its slot limit and lease (ms). A policy without one sends
 * nothing for it: the bytes of a limit check without concurrency stay what they were.
 */
export const ARGS_PER_POLICY = 3;
/** The flags of a policy in ARGV: a sum of these. */
export const POLICY_FLAGS = { shadow: 1, concurrency: 2 } as const;
/** ARGV fields before the first policy: clock, mode (with the lease token after its first character). */
export const ARGS_BEFORE_POLICIES = 2;
/** Integers per tier in the reply (a string of space-separated integers): allowed, remaining, resetMs, retryAfterMs. */
export const REPLY_PER_TIER = 4;

/** Each algorithm's code in ARGV: its 1-based position in the registry. */
export const ALGORITHM_CODES: Readonly<Record<RateLimitAlgorithmName, number>> = Object.fromEntries(
  RATE_LIMIT_ALGORITHMS.map((name, index) => [name, index + 1]),
) as Record<RateLimitAlgorithmName, number>;

const HEADER = `
-- Decides every tier of every policy of one request in one call, all-or-nothing.
-- KEYS      per policy, in order: its hash for this client, then (for a policy with a
--           concurrency tier) its slot ZSET (members: lease tokens, scores: when their
--           lease ends, ms); every key carries the client's hash tag (one Cluster slot).
--           A hash holds one field per tier, named by a small integer derived from the
--           tier's name, algorithm and window (stateFields in redis.store.ts), holding
--           the algorithm's state.
-- ARGV[1]   clock: now in ms, or '' to read Redis TIME (one clock for every instance)
-- ARGV[2]   mode: 'c' to consume, 'p' to peek (nothing is written; every cost is 0),
--           followed by the request's lease token if it takes slots ('c<token>'; without
--           one, concurrency tiers only report)
-- ARGV[3..] per policy: cost (units), flags (1: shadow, 2: a concurrency tier), tier
--           count, then with a concurrency tier its slot limit and lease ms, then per
--           tier: field, algorithm code (its position in the registry), limit, window ms
-- Reply: one string of integers separated by single spaces: admitted, now, then per
-- policy: per tier allowed, remaining, resetMs, retryAfterMs, then the same four for its
-- concurrency tier if it has one; retryAfterMs -1 means never (the cost exceeds the
-- tier's limit). One bulk string, not an array of integers: the client decodes one value
-- instead of one per integer.
local clock_arg, mode, token = ARGV[1], string.sub(ARGV[2], 1, 1), string.sub(ARGV[2], 2)
`;

/**
 * The dispatcher: each algorithm's Lua in a block of its own (its helpers and `decide`
 * stay local to it), `decide` stored at the algorithm's code.
 */
export function dispatcherLua(algorithms: Readonly<Record<string, RateLimitAlgorithm>> = ALGORITHMS): string {
  const blocks = Object.entries(algorithms).map(
    ([name, algorithm], index) => `do -- ${name}\n${algorithm.lua.trim()}\nalgorithms[${index + 1}] = decide\nend`,
  );
  return ['local algorithms = {}', ...blocks].join('\n');
}

const MAIN = `
-- Admitted only when every tier of every non-shadow policy admits. A rejected request
-- writes nothing anywhere; a shadow policy counts only what it would admit itself. A tier
-- whose policy is not written reports its standing without the cost (remaining, resetMs:
-- the admitting tiers are decided again with cost 0, on this path only) and keeps its own
-- verdict (allowed, retryAfterMs).
-- A concurrency tier is one more tier of its policy: it admits while fewer live slots
-- than its limit are held, and an admitted request adds its token (with a token and a
-- cost above 0), so a rejection anywhere takes no slot either.
-- A written key expires ttl (twice its longest window, which the window algorithms also
-- use to shorten their stored window index: window_index) after the latest instant its
-- tiers stand at (now, or later when the clock reads behind the bucket), and before any
-- of its window tiers' wrapped index could be misread (window_horizon).
local now = clock(clock_arg)
local consume = mode == 'c'
local reply = { 1, now }
local policies = {}
local i = ${ARGS_BEFORE_POLICIES} + 1
local k = 0
local p = 0
while i <= #ARGV do
  p = p + 1
  k = k + 1
  local key = KEYS[k]
  local cost, flags, count = tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local shadow = flags % 2 == 1
  local first = i + ${ARGS_PER_POLICY}
  local slot_limit, lease = 0, 0
  if flags >= 2 then
    slot_limit, lease = tonumber(ARGV[first]), tonumber(ARGV[first + 1])
    first = first + 2
  end
  local fields, longest = {}, 0
  for t = 1, count do
    local base = first + (t - 1) * ${ARGS_PER_TIER}
    fields[t] = ARGV[base]
    local window = tonumber(ARGV[base + 3])
    if window > longest then longest = window end
  end
  local states = {}
  if count > 0 then states = redis.call('HMGET', key, unpack(fields)) end
  local policy = {
    key = key, cost = cost, first = first, count = count, states = states, ttl = 2 * longest, reply = #reply + 1,
    admits = true, writes = {}, at = now, horizon = math.huge,
  }
  for t = 1, count do
    local base = first + (t - 1) * ${ARGS_PER_TIER}
    local ok, remaining, reset, retry, nextState, at, horizon = algorithms[tonumber(ARGV[base + 1])](
      states[t] or nil, tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3]), cost, now, policy.ttl)
    reply[#reply + 1] = ok
    reply[#reply + 1] = remaining
    reply[#reply + 1] = reset
    reply[#reply + 1] = retry
    if ok == 0 then
      policy.admits = false
    else
      policy.writes[#policy.writes + 1] = fields[t]
      policy.writes[#policy.writes + 1] = nextState
      if at > policy.at then policy.at = at end
      if horizon < policy.horizon then policy.horizon = horizon end
    end
  end
  if slot_limit > 0 then
    k = k + 1
    policy.slots, policy.lease, policy.slot_reply = KEYS[k], lease, #reply + 1
    policy.take = consume and token ~= '' and cost > 0
    local ok, remaining, reset, retry = slots_decide(slots_count(policy.slots, now), slot_limit, policy.take)
    reply[#reply + 1] = ok
    reply[#reply + 1] = remaining
    reply[#reply + 1] = reset
    reply[#reply + 1] = retry
    if ok == 0 then policy.admits = false end
  end
  if not policy.admits and not shadow then reply[1] = 0 end
  policies[p] = policy
  i = first + count * ${ARGS_PER_TIER}
end
local admitted = consume and reply[1] == 1
for _, policy in ipairs(policies) do
  if admitted and policy.admits then
    if #policy.writes > 0 then
      redis.call('HSET', policy.key, unpack(policy.writes))
      redis.call('PEXPIRE', policy.key, math.min(policy.at + policy.ttl, policy.horizon - 1) - now)
    end
    if policy.take then slots_take(policy.slots, token, now, policy.lease) end
  else
    if policy.cost > 0 then
      for t = 1, policy.count do
        local r = policy.reply + (t - 1) * ${REPLY_PER_TIER}
        if reply[r] == 1 then
          local base = policy.first + (t - 1) * ${ARGS_PER_TIER}
          local _, remaining, reset = algorithms[tonumber(ARGV[base + 1])](
            policy.states[t] or nil, tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3]), 0, now, policy.ttl)
          reply[r + 1] = remaining
          reply[r + 2] = reset
        end
      end
    end
    -- An admitting concurrency tier reports the slots left without this request's.
    if policy.take and reply[policy.slot_reply] == 1 then
      reply[policy.slot_reply + 1] = reply[policy.slot_reply + 1] + 1
    end
  end
end
-- table.concat writes a number with 14 significant digits: larger ones go through fmt.
for r = 1, #reply do
  local v = reply[r]
  if v >= 1e14 or v <= -1e14 then reply[r] = fmt(v) end
end
return table.concat(reply, ' ')
`;

/**
 * The one rate-limit script, composed from the algorithm registry: its KEYS and ARGV, the
 * shared helpers, the concurrency tier's helpers, every algorithm's Lua behind the
 * generated dispatcher, then the decision above. Registered once per connection (EVALSHA, NOSCRIPT handled by ioredis).
 */
export const RATE_LIMIT_LUA = [
  HEADER,
  SCRIPT_PRELUDE_LUA,
  ALGORITHM_PRELUDE_LUA,
  WINDOW_INDEX_LUA,
  EXACT_ARITHMETIC_LUA,
  CONCURRENCY_LUA,
  dispatcherLua(),
  MAIN,
].join('\n');
