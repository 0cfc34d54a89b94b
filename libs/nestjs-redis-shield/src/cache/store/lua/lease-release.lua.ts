/** Gives a lease up if it is still the caller's; see the header of the script. */
export const LEASE_RELEASE_LUA = `
-- Gives up a lease of the response cache if the caller still holds it: one that expired
-- and was taken by another caller is left alone.
-- KEYS[1]  the lease
-- ARGV[1]  the caller's lease token
-- Reply: 1 when released, 0 when the lease was no longer the caller's.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;
