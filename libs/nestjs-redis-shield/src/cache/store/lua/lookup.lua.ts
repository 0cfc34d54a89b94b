/** Reads one entry, taking the lease on computing it when it is missing; see the header of the script. */
export const LOOKUP_LUA = `
-- Reads one response-cache entry and, when it is missing, takes the lease on computing
-- it, in one round trip: concurrent misses on every instance agree on one leader.
-- KEYS[1]  the entry
-- KEYS[2]  its lease (same slot: the digest is the hash tag of both)
-- ARGV[1]  the caller's lease token, or '' to read without leasing
-- ARGV[2]  the lease's lifetime in ms (a leader that dies holds it no longer)
-- Reply: {entry} when stored; {false, 1} when missing and the lease is the caller's now;
--        {false, 0} when missing and another caller holds the lease; {false} when
--        missing and no token was given, or the lease could not be written (Redis out
--        of memory: the read still answers, the miss runs without a lease).
local entry = redis.call('GET', KEYS[1])
if entry then return {entry} end
if ARGV[1] == '' then return {false} end
local taken = redis.pcall('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2])
if type(taken) == 'table' and taken.err then return {false} end
if taken then return {false, 1} end
return {false, 0}
`;
