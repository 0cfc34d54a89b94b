import { SCRIPT_PRELUDE_LUA } from '../../../redis/store/lua/prelude.lua.js';

/**
 * Helpers every response-cache script holds right after its header (what it does, its
 * `KEYS` and `ARGV`, its reply): the library's prelude (`fmt`, and `clock(ARGV[1])`, which
 * reads the time the way the rate-limit script does), then the cache's own.
 * `keepAlive` applies the "TTL = max(current, needed)" rule: a key never expires before
 * the latest entry recorded in it. `pruneExpired` removes at most `limit` expired members
 * of an index (ZREMRANGEBYSCORE has no limit, and an index nobody wrote to for a while
 * may hold a whole TTL's worth of expired members): a script's work stays bounded, and
 * every later call prunes the next ones.
 */
export const CACHE_LUA_PRELUDE = `${SCRIPT_PRELUDE_LUA}
local function keepAlive(key, lifetime)
  if redis.call('PTTL', key) < lifetime then redis.call('PEXPIRE', key, fmt(lifetime)) end
end
local function pruneExpired(key, now, limit)
  local expired = redis.call('ZRANGEBYSCORE', key, '-inf', '(' .. fmt(now), 'LIMIT', 0, limit)
  if #expired > 0 then redis.call('ZREM', key, unpack(expired)) end
end
`;
