import { CACHE_LUA_PRELUDE } from './lua-prelude.js';

/** Empties one cache index and returns its live members; see the header of the script. */
export const INDEX_TAKE_LUA = `${CACHE_LUA_PRELUDE}
-- Takes every live member of one cache index and deletes the index in one step, so a
-- member added concurrently is either returned here or kept in a fresh index, never lost.
-- KEYS[1]  the index (ZSET of entry digests scored by expiry ms)
-- ARGV[1]  now in ms, or '' to read Redis TIME
-- Reply: the digests whose entries may still be alive.
local members = redis.call('ZRANGEBYSCORE', KEYS[1], fmt(clock(ARGV[1])), '+inf')
redis.call('UNLINK', KEYS[1])
return members
`;
