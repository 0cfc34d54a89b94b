import { CACHE_LUA_PRELUDE } from './lua-prelude.js';

/** Counts (and samples) the live members of one cache index; see the header of the script. */
export const INDEX_PEEK_LUA = `
-- Counts the live members of one cache index and samples its members.
-- KEYS[1]  the index (ZSET of entry digests scored by expiry ms)
-- ARGV[1]  now in ms, or '' to read Redis TIME
-- ARGV[2]  how many digests to sample (0: count only)
-- ARGV[3]  at most this many expired members are pruned
-- Reply: { live members, digest, digest, ... }.
-- Prunes (a bounded number of) the members that expired first. The sample is random (for
-- TTL statistics) and may hold an expired member not pruned yet.
${CACHE_LUA_PRELUDE}
local now = clock(ARGV[1])
pruneExpired(KEYS[1], now, ARGV[3])
-- ZCOUNT (O(log n)), not ZCARD: expired members left by the bounded prune never count.
local reply = { redis.call('ZCOUNT', KEYS[1], fmt(now), '+inf') }
local sample = tonumber(ARGV[2])
if sample > 0 and reply[1] > 0 then
  local members = redis.call('ZRANDMEMBER', KEYS[1], sample)
  for i = 1, #members do reply[i + 1] = members[i] end
end
return reply
`;
