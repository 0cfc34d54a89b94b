/**
 * Releases one request's slots: removes its lease token from each of the client's slot
 * ZSETs it was admitted with. Off the request path (after the response), one call per request.
 */
export const CONCURRENCY_RELEASE_LUA = `
-- Releases one request's concurrency slots.
-- KEYS[k]  the client's slot ZSETs the request holds a slot in (one hash tag: one Cluster slot)
-- ARGV[1]  the request's lease token
-- Reply: how many slots were released (0 when every lease had already ended)
local released = 0
for k = 1, #KEYS do
  released = released + redis.call('ZREM', KEYS[k], ARGV[1])
end
return released
`;
