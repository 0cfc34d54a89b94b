import { CACHE_LUA_PRELUDE } from './lua-prelude.js';

/** Registers one route or path in a registry hash; see the header of the script. */
export const REGISTRY_ADD_LUA = `
-- Registers one route or concrete path, so invalidations find its index without a SCAN.
-- KEYS[1]  the registry (HASH field = the route's or path's hash)
-- ARGV[1]  now in ms, or '' to read Redis TIME
-- ARGV[2]  the field
-- ARGV[3]  the payload: route JSON { id, template } or the concrete path
-- ARGV[4]  lifetime in ms: the entry's TTL plus a grace
-- Reply: 1.
-- The field's value is '<until>|<payload>': until = the latest expiry (ms) of any entry
-- registered through it, so the field is only dropped once all of them expired.
${CACHE_LUA_PRELUDE}
local lifetime = tonumber(ARGV[4])
local untilMs = clock(ARGV[1]) + lifetime
local old = redis.call('HGET', KEYS[1], ARGV[2])
if old then
  local previous = tonumber(string.match(old, '^(%d+)|'))
  if previous and previous > untilMs then untilMs = previous end
end
redis.call('HSET', KEYS[1], ARGV[2], fmt(untilMs) .. '|' .. ARGV[3])
keepAlive(KEYS[1], lifetime)
return 1
`;
