/**
 * Helpers every response-cache script holds right after its header (what it does, its
 * `KEYS` and `ARGV`, its reply). `clock(ARGV[1])` reads the time the
 * way the rate-limit script does: the application's ms when the connection's clock
 * passes one, Redis `TIME` otherwise (one clock per node, no extra round trip).
 * `keepAlive` applies the "TTL = max(current, needed)" rule: a key never expires before
 * the latest entry recorded in it. `pruneExpired` removes at most `limit` expired members
 * of an index (ZREMRANGEBYSCORE has no limit, and an index nobody wrote to for a while
 * may hold a whole TTL's worth of expired members): a script's work stays bounded, and
 * every later call prunes the next ones.
 */
export const CACHE_LUA_PRELUDE = `
local function fmt(n) return string.format('%.0f', n) end
local function clock(arg)
  local now = tonumber(arg)
  if now then return math.floor(now) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function keepAlive(key, lifetime)
  if redis.call('PTTL', key) < lifetime then redis.call('PEXPIRE', key, fmt(lifetime)) end
end
local function pruneExpired(key, now, limit)
  local expired = redis.call('ZRANGEBYSCORE', key, '-inf', '(' .. fmt(now), 'LIMIT', 0, limit)
  if #expired > 0 then redis.call('ZREM', key, unpack(expired)) end
end
`;
