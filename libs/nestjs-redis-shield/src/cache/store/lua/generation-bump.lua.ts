import { CACHE_LUA_PRELUDE } from './lua-prelude.js';

/** Moves the cache generation forward; see the header of the script. */
export const GENERATION_BUMP_LUA = `
-- Moves the cache generation forward and refreshes its TTL.
-- KEYS[1]  the generation (an integer string; missing reads as '0')
-- ARGV[1]  now in ms, or '' to read Redis TIME
-- ARGV[2]  TTL in ms
-- Reply: the new generation.
-- A miss that captured an older value drops its write.
${CACHE_LUA_PRELUDE}
local value = redis.call('INCR', KEYS[1])
if value == 1 then
  -- The key had expired (or never existed). Restart from the clock, not from 1, so a
  -- value handed out before the expiry can never come back (no ABA for a miss in flight).
  value = math.max(clock(ARGV[1]), 2)
  redis.call('SET', KEYS[1], fmt(value))
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return value
`;
