import { CACHE_LUA_PRELUDE } from './lua-prelude.js';

/** One step of emptying a cache index: pops a bounded batch, returns its live members; see the header of the script. */
export const INDEX_TAKE_LUA = `
-- One step of taking a cache index: pops a bounded batch, returns its live members.
-- KEYS[1]  the index (ZSET of entry digests scored by expiry ms)
-- ARGV[1]  now in ms, or '' to read Redis TIME
-- ARGV[2]  at most this many members are popped
-- Reply: { members left in the index, live digest, live digest, ... }.
-- Pops the lowest scores first: expired members score lowest, so they are popped (pruned)
-- first. The caller repeats until no member is left; ZPOPMIN deletes the key with its last
-- member. Why a take in several steps lets nothing stale stay: see the comment of
-- ResponseCacheStore.
${CACHE_LUA_PRELUDE}
local now = clock(ARGV[1])
local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[2])
local reply = { 0 }
for i = 1, #popped, 2 do
  if tonumber(popped[i + 1]) >= now then reply[#reply + 1] = popped[i] end
end
reply[1] = redis.call('ZCARD', KEYS[1])
return reply
`;
