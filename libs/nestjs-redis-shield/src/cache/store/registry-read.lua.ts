import { CACHE_LUA_PRELUDE } from './lua-prelude.js';

/** Reads a registry hash, dropping fields whose entries all expired; see the header of the script. */
export const REGISTRY_READ_LUA = `${CACHE_LUA_PRELUDE}
-- Reads a registry and removes the fields whose entries have all expired (until < now).
-- Read and removal are one step on the registry key, so a registration that raced with
-- this call is never removed while its entry lives.
-- KEYS[1]  the registry (HASH field = hash, value = '<until>|<payload>')
-- ARGV[1]  now in ms, or '' to read Redis TIME
-- Reply: { field, payload, field, payload, ... } of the live fields.
local now = clock(ARGV[1])
local all = redis.call('HGETALL', KEYS[1])
local reply, dead = {}, {}
for i = 1, #all, 2 do
  local untilMs, payload = string.match(all[i + 1], '^(%d+)|(.*)$')
  if untilMs and tonumber(untilMs) >= now then
    reply[#reply + 1] = all[i]
    reply[#reply + 1] = payload
  else
    dead[#dead + 1] = all[i]
  end
end
-- unpack() has a stack limit of a few thousand values: delete in chunks.
for i = 1, #dead, 1000 do
  redis.call('HDEL', KEYS[1], unpack(dead, i, math.min(i + 999, #dead)))
end
return reply
`;
