import { WINDOW_EPOCH_MS } from '../algorithms/algorithm.js';
import { ALGORITHMS } from '../algorithms/index.js';

/** Fields per tier in ARGV: field name, algorithm code, limit, window (ms). */
export const ARGS_PER_TIER = 4;
/** Integers per tier in the reply: allowed, remaining, resetMs, retryAfterMs. */
export const REPLY_PER_TIER = 4;

/**
 * The window index as stored in a tier's state: modulo the smallest power of ten that
 * exceeds the windows a state can live (the key expires `ttl` after its last write), so
 * `w` and `w - 1` are still told apart from any older index while the stored number
 * stays two or three digits instead of seven (one jemalloc size class, 16 B, per client
 * with the default tiers). Used by the window algorithms; `window_index(w - 1, ...)` is
 * the previous window's.
 */
const WINDOW_INDEX_LUA = `
local function window_index(w, window, ttl)
  local m = 10
  while m <= ttl / window + 2 do m = m * 10 end
  return w % m
end
`;

const MAIN = `
-- Decides every tier of every policy of one request in one call, all-or-nothing.
-- KEYS[p]  the hash of policy p for this client; every key carries the client's hash tag
--          (one Cluster slot); its fields are the tier names.
-- ARGV[1]  now in ms, or '' to read Redis TIME (one clock for every instance)
-- ARGV[2]  cost (units; 0 with mode 'p')
-- ARGV[3]  'c' to consume, 'p' to peek (nothing is written)
-- ARGV[4..] per policy: shadow ('1'/'0'), tier count, then per tier:
--          field, algorithm code, limit, window ms
-- Reply: { admitted, now, then per tier: allowed, remaining, resetMs, retryAfterMs }.
-- Admitted only when every tier of every non-shadow policy admits. A rejected request
-- writes nothing anywhere; a shadow policy counts only what it would admit itself.
-- Each written key expires after twice its longest window (ttl, which the window
-- algorithms also use to shorten their stored window index: window_index).
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
now = math.floor(now)
local cost = tonumber(ARGV[2])
local consume = ARGV[3] == 'c'
local algorithms = { fixed_window, sliding_window, token_bucket, gcra }
local reply = { 1, now }
local pending = {}
local i = 4
for p = 1, #KEYS do
  local shadow = ARGV[i] == '1'
  local count = tonumber(ARGV[i + 1])
  i = i + 2
  local fields = {}
  for t = 1, count do fields[t] = ARGV[i + (t - 1) * ${ARGS_PER_TIER}] end
  local states = redis.call('HMGET', KEYS[p], unpack(fields))
  local admits, longest, writes = true, 0, {}
  for t = 1, count do
    local window = tonumber(ARGV[i + (t - 1) * ${ARGS_PER_TIER} + 3])
    if window > longest then longest = window end
  end
  local ttl = 2 * longest
  for t = 1, count do
    local limit, window = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
    local state = states[t]
    if not state then state = nil end
    local ok, remaining, reset, retry, nextState = algorithms[tonumber(ARGV[i + 1])](state, limit, window, cost, now, ttl)
    reply[#reply + 1] = ok
    reply[#reply + 1] = remaining
    reply[#reply + 1] = reset
    reply[#reply + 1] = retry
    if ok == 0 then
      admits = false
    else
      writes[#writes + 1] = fields[t]
      writes[#writes + 1] = nextState
    end
    i = i + ${ARGS_PER_TIER}
  end
  if not admits and not shadow then reply[1] = 0 end
  pending[p] = { admits = admits, writes = writes, ttl = ttl }
end
if consume and reply[1] == 1 then
  for p = 1, #KEYS do
    local write = pending[p]
    if write.admits then
      redis.call('HSET', KEYS[p], unpack(write.writes))
      redis.call('PEXPIRE', KEYS[p], write.ttl)
    end
  end
end
return reply
`;

/**
 * The one rate-limit script: the algorithms' Lua functions, then the dispatcher above.
 * Registered once per connection (EVALSHA, NOSCRIPT handled by ioredis).
 */
export const RATE_LIMIT_LUA = [
  "local function fmt(n) return string.format('%.0f', n) end",
  `local EPOCH = ${WINDOW_EPOCH_MS}`,
  WINDOW_INDEX_LUA,
  ...Object.values(ALGORITHMS)
    .sort((a, b) => a.code - b.code)
    .map((algorithm) => algorithm.lua),
  MAIN,
].join('\n');
