/**
 * Lua twin of `slotVerdict` (engine/concurrency.ts) and the slot writes, for the rate-limit
 * script. A client's slots of one policy are a ZSET (its key in the client's hash tag):
 * members are lease tokens, scores the instant (ms) their lease ends.
 *
 * `slots_count(key, now)`: live slots (lease ending after `now`), read without writing.
 * `slots_decide(inflight, limit, take)`: `ok, remaining, reset, retry` as a tier replies.
 * `slots_take(key, token, now, lease)`: drops expired leases, adds the token until
 * `now + lease`, and keeps the key no longer than its newest lease.
 */
export const CONCURRENCY_LUA = `
local SLOT_RETRY = 1000
local function slots_count(key, now)
  return redis.call('ZCOUNT', key, '(' .. fmt(now), '+inf')
end
local function slots_decide(inflight, limit, take)
  local free = math.max(0, limit - inflight)
  if not take then return 1, free, 0, 0 end
  if free > 0 then return 1, free - 1, 0, 0 end
  return 0, 0, SLOT_RETRY, SLOT_RETRY
end
local function slots_take(key, token, now, lease)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(now))
  redis.call('ZADD', key, fmt(now + lease), token)
  if redis.call('PTTL', key) < lease then redis.call('PEXPIRE', key, lease) end
end
`;
