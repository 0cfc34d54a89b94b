import { CACHE_LUA_PRELUDE } from './lua-prelude.js';

/** Removes registry fields that are still expired (compare-and-delete); see the header of the script. */
export const REGISTRY_PRUNE_LUA = `
-- Removes registry fields whose entries have all expired (until < now).
-- KEYS[1]  the registry (HASH field = hash, value = '<until>|<payload>')
-- ARGV[1]  now in ms, or '' to read Redis TIME
-- ARGV[2..] the fields to check (the caller sends at most 500 per call)
-- Reply: the fields no longer listed: removed here, or already gone.
-- The caller saw the fields expired in an HSCAN page, but a registration may have renewed
-- one since: each field is re-read here and removed only if its current value is still
-- expired, so a registration that raced with the scan is never removed while its entry
-- lives.
${CACHE_LUA_PRELUDE}
local now = clock(ARGV[1])
local gone = {}
for i = 2, #ARGV do
  local value = redis.call('HGET', KEYS[1], ARGV[i])
  if not value then
    gone[#gone + 1] = ARGV[i]
  else
    local untilMs = string.match(value, '^(%d+)|')
    if not untilMs or tonumber(untilMs) < now then
      redis.call('HDEL', KEYS[1], ARGV[i])
      gone[#gone + 1] = ARGV[i]
    end
  end
end
return gone
`;
