import { CACHE_LUA_PRELUDE } from './lua-prelude.js';

/** Adds one entry to one cache index; see the header of the script. */
export const INDEX_ADD_LUA = `
-- Adds one entry to one cache index.
-- KEYS[1]  the index: a ZSET, member = entry digest, score = the time (ms) by which the
--          entry has certainly expired
-- ARGV[1]  now in ms, or '' to read Redis TIME
-- ARGV[2]  the entry digest
-- ARGV[3]  lifetime in ms: the entry's TTL plus a grace
-- ARGV[4]  at most this many expired members are pruned
-- ARGV[5]  optional cap: a new member is only added while fewer live members are listed
-- Reply: 1, or 0 when the cap refused a new member.
-- Also prunes (a bounded number of) members that expired, and keeps the index alive at
-- least as long as its latest member.
${CACHE_LUA_PRELUDE}
local now = clock(ARGV[1])
local lifetime = tonumber(ARGV[3])
pruneExpired(KEYS[1], now, ARGV[4])
local cap = tonumber(ARGV[5])
if cap and not redis.call('ZSCORE', KEYS[1], ARGV[2]) and redis.call('ZCOUNT', KEYS[1], now, '+inf') >= cap then
  return 0
end
-- GT: a digest written twice keeps the later expiry, so the member never expires before
-- the entry whichever SET lands last.
redis.call('ZADD', KEYS[1], 'GT', fmt(now + lifetime), ARGV[2])
keepAlive(KEYS[1], lifetime)
return 1
`;
