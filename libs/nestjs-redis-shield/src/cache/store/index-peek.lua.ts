import { CACHE_LUA_PRELUDE } from './lua-prelude.js';

/** Counts (and samples) the live members of one cache index; see the header of the script. */
export const INDEX_PEEK_LUA = `${CACHE_LUA_PRELUDE}
-- Prunes the members of one cache index that expired, then counts the rest and returns a
-- random sample of them (for TTL statistics).
-- KEYS[1]  the index (ZSET of entry digests scored by expiry ms)
-- ARGV[1]  now in ms, or '' to read Redis TIME
-- ARGV[2]  how many digests to sample (0: count only)
-- Reply: { live members, digest, digest, ... }.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. fmt(clock(ARGV[1])))
local reply = { redis.call('ZCARD', KEYS[1]) }
local sample = tonumber(ARGV[2])
if sample > 0 and reply[1] > 0 then
  local members = redis.call('ZRANDMEMBER', KEYS[1], sample)
  for i = 1, #members do reply[i + 1] = members[i] end
end
return reply
`;
