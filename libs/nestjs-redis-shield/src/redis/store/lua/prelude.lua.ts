import type { Clock } from '../../../core/clock.js';

/**
 * Helpers a script starts with. `fmt(n)` writes a number as an integer string (Lua's
 * `tostring` switches to exponent notation above 10^14). `clock(arg)` reads the time in ms
 * from a script argument {@link clockArg} made: the application's ms when the connection's
 * clock passes one, Redis `TIME` otherwise (one clock for every instance, no extra round
 * trip).
 *
 * Every script of the library starts with it: the rate limiter's and the response
 * cache's (`cache/store/lua/lua-prelude.ts` adds its own helpers after it).
 */
export const SCRIPT_PRELUDE_LUA = `
local function fmt(n) return string.format('%.0f', n) end
local function clock(arg)
  local now = tonumber(arg)
  if now then return math.floor(now) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/** The clock argument of a script: the application's ms for an `app` clock, `''` to read Redis `TIME`. */
export function clockArg(clock: Clock): number | '' {
  return clock.source === 'app' ? clock.now() : '';
}
