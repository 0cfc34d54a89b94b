import { ALGORITHM_PRELUDE_LUA, type RateLimitAlgorithm } from '../../engine/algorithms/algorithm.js';
import { EXACT_ARITHMETIC_LUA } from '../../engine/algorithms/exact-arithmetic.js';
import { ALGORITHMS, RATE_LIMIT_ALGORITHMS, type RateLimitAlgorithmName } from '../../engine/algorithms/registry.js';
import { WINDOW_INDEX_LUA } from '../../engine/algorithms/window-index.js';
import { SCRIPT_PRELUDE_LUA } from '../../../redis/store/lua/prelude.lua.js';
import { CONCURRENCY_LUA } from './concurrency.lua.js';

/** Fields per tier in a policy definition: field name, algorithm code, limit, window (ms). */
export const ARGS_PER_TIER = 4;
/**
 * Fields of a policy definition before its tiers: flags, tier count; then, for a policy
 * with a concurrency tier only, its slot limit and lease (ms).
 */
export const ARGS_PER_DEFINITION = 2;
/** The flags of a policy in ARGV: a sum of these. */
export const POLICY_FLAGS = { shadow: 1, concurrency: 2 } as const;
/** ARGV fields of a request before its policies: mode (with the lease token after its first character), policy count, key count. */
export const ARGS_PER_REQUEST = 3;
/** ARGV fields per policy of a request: the index of its definition, its cost. */
export const ARGS_PER_POLICY = 2;
/** Integers per tier in the reply (a string of space-separated integers): allowed, remaining, resetMs, retryAfterMs. */
export const REPLY_PER_TIER = 4;

/** Each algorithm's code in ARGV: its 1-based position in the registry. */
export const ALGORITHM_CODES: Readonly<Record<RateLimitAlgorithmName, number>> = Object.fromEntries(
  RATE_LIMIT_ALGORITHMS.map((name, index) => [name, index + 1]),
) as Record<RateLimitAlgorithmName, number>;

const HEADER = `
-- Decides every tier of every policy of each of a batch of requests, one after the other
-- (each sees the writes of those before it), each all-or-nothing.
-- KEYS      per request, per policy, in order: its hash for this client, then (for a
--           policy with a concurrency tier) its slot ZSET (members: lease tokens, scores:
--           when their lease ends, ms); every key of a request carries its client's hash
--           tag (one Cluster slot). A hash holds one field per tier, named by a small
--           integer derived from the tier's name, algorithm and window (stateFields in
--           redis.store.ts), holding the algorithm's state.
-- ARGV[1]   clock: now in ms, or '' to read Redis TIME (one clock for every instance)
-- ARGV[2]   how many policy definitions follow, each once however many requests use it:
--           flags (1: shadow, 2: a concurrency tier), tier count, then with a concurrency
--           tier its slot limit and lease ms, then per tier: field, algorithm code (its
--           position in the registry), limit, window ms
-- then      per request: mode ('c' to consume, 'p' to peek: nothing is written, every
--           cost is 0), followed by the request's lease token if it takes slots
--           ('c<token>'; without one, concurrency tiers only report); its policy count;
--           its key count; then per policy: the index of its definition (from 1), its
--           cost (units)
-- Reply: an array of one string per request: its integers separated by single spaces:
-- admitted, now, then per policy: per tier allowed, remaining, resetMs, retryAfterMs,
-- then the same four for its concurrency tier if it has one; retryAfterMs -1 means never
-- (the cost exceeds the tier's limit). One string, not an array of integers: the client
-- decodes one value instead of one per integer. A request whose decision raised an error
-- (a key of the wrong type) gets 'E' and the error instead; the others are decided.
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
local VERDICT = { [0] = '0', [1] = '1' }

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
-- A verdict (1 or 0) and a zero retry go into the reply as text: table.concat copies a
-- string, while each number costs it a conversion (about a tenth of the script's time
-- for the 14 of three tiers).
-- The request's policies are the count pairs from ARGV[first], its keys from KEYS[k + 1].
local function decide_request(now, definitions, mode_arg, first, count, k)
  local consume, token = string.byte(mode_arg) == 99, nil -- 'c'; the token is read when a policy needs it
  local reply = { '1', now }
  local n = 2
  local policies = {}
  for p = 1, count do
    local at_arg = first + (p - 1) * ${ARGS_PER_POLICY}
    local def, cost = definitions[tonumber(ARGV[at_arg])], tonumber(ARGV[at_arg + 1])
    k = k + 1
    local key = KEYS[k]
    local states = {}
    if def.count > 0 then states = redis.call('HMGET', key, unpack(def.fields)) end
    local policy = { key = key, def = def, cost = cost, states = states, reply = n + 1, admits = true, writes = {},
      at = now, horizon = math.huge }
    for t = 1, def.count do
      local ok, remaining, reset, retry, nextState, at, horizon = def.decide[t](
        states[t] or nil, def.limits[t], def.windows[t], cost, now, def.ttl)
      reply[n + 1], reply[n + 2], reply[n + 3], reply[n + 4] = VERDICT[ok], remaining, reset, retry == 0 and '0' or retry
      n = n + ${REPLY_PER_TIER}
      if ok == 0 then
        policy.admits = false
      else
        policy.writes[#policy.writes + 1] = def.fields[t]
        policy.writes[#policy.writes + 1] = nextState
        if at > policy.at then policy.at = at end
        if horizon < policy.horizon then policy.horizon = horizon end
      end
    end
    if def.slot_limit > 0 then
      k = k + 1
      token = token or string.sub(mode_arg, 2)
      policy.slots, policy.slot_reply = KEYS[k], n + 1
      policy.take = consume and token ~= '' and cost > 0
      local ok, remaining, reset, retry = slots_decide(slots_count(policy.slots, now), def.slot_limit, policy.take)
      reply[n + 1], reply[n + 2], reply[n + 3], reply[n + 4] = VERDICT[ok], remaining, reset, retry
      n = n + ${REPLY_PER_TIER}
      if ok == 0 then policy.admits = false end
    end
    if not policy.admits and not def.shadow then reply[1] = '0' end
    policies[p] = policy
  end
  local admitted = consume and reply[1] == '1'
  for _, policy in ipairs(policies) do
    if admitted and policy.admits then
      if #policy.writes > 0 then
        redis.call('HSET', policy.key, unpack(policy.writes))
        redis.call('PEXPIRE', policy.key, math.min(policy.at + policy.def.ttl, policy.horizon - 1) - now)
      end
      if policy.take then slots_take(policy.slots, token, now, policy.def.lease) end
    else
      if policy.cost > 0 then
        local def = policy.def
        for t = 1, def.count do
          local r = policy.reply + (t - 1) * ${REPLY_PER_TIER}
          if reply[r] == '1' then
            local _, remaining, reset = def.decide[t](policy.states[t] or nil, def.limits[t], def.windows[t], 0, now, def.ttl)
            reply[r + 1] = remaining
            reply[r + 2] = reset
          end
        end
      end
      -- An admitting concurrency tier reports the slots left without this request's.
      if policy.take and reply[policy.slot_reply] == '1' then
        reply[policy.slot_reply + 1] = reply[policy.slot_reply + 1] + 1
      end
    end
  end
  -- table.concat writes a number with 14 significant digits: larger ones go through fmt.
  -- (A verdict or a zero retry is text already; comparing it with a number would raise.)
  for r = 2, n do
    local v = reply[r]
    if v ~= '0' and v ~= '1' and (v >= 1e14 or v <= -1e14) then reply[r] = fmt(v) end
  end
  return table.concat(reply, ' ')
end

-- One request's error (a redis.call on a key of another type) is its own: pcall keeps the
-- rest of the batch decided. Writes it made before the error stay, as with any script.
local function failure(err)
  if type(err) == 'table' then err = err.err end
  return 'E' .. tostring(err)
end

-- The policy definitions, read once for the whole batch. A written key expires ttl
-- after its latest instant: twice the policy's longest window.
local definitions = {}
local i = 3
for d = 1, tonumber(ARGV[2]) do
  local flags, count = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  local def = { shadow = flags % 2 == 1, count = count, slot_limit = 0, lease = 0, fields = {}, decide = {},
    limits = {}, windows = {} }
  i = i + ${ARGS_PER_DEFINITION}
  if flags >= 2 then
    def.slot_limit, def.lease = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
    i = i + 2
  end
  local longest = 0
  for t = 1, count do
    local window = tonumber(ARGV[i + 3])
    def.fields[t], def.decide[t], def.limits[t], def.windows[t] =
      ARGV[i], algorithms[tonumber(ARGV[i + 1])], tonumber(ARGV[i + 2]), window
    if window > longest then longest = window end
    i = i + ${ARGS_PER_TIER}
  end
  def.ttl = 2 * longest
  definitions[d] = def
end

local now = clock(ARGV[1])
local replies = {}
local k = 0
while i <= #ARGV do
  local count, keys = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local ok, text = pcall(decide_request, now, definitions, ARGV[i], i + ${ARGS_PER_REQUEST}, count, k)
  replies[#replies + 1] = ok and text or failure(text)
  i, k = i + ${ARGS_PER_REQUEST} + count * ${ARGS_PER_POLICY}, k + keys
end
return replies
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
