/**
 * Lua twin of `gcra.decide` (its contract: `RateLimitAlgorithm` in algorithm.ts); state
 * `tatMs` or `tatMs:frac`, the theoretical arrival time tatMs + frac / limit. Ignores `ttl`.
 */
export const GCRA_LUA = `
local function units_within(ms, frac, limit, window)
  if ms <= 0 then return 0 end
  local whole, part = muldivmod(ms, limit, window)
  if part >= frac then return whole end
  return whole - math.ceil((frac - part) / window)
end
local function decide(state, limit, window, cost, now, ttl)
  if cost > limit then return never(decide(state, limit, window, 0, now, ttl)) end
  local tat, frac = now, 0
  if state then
    local st, sf = string.match(state, '^(%d+):?(%d*)$')
    tat, frac = tonumber(st), tonumber(sf) or 0
    if frac >= limit then tat, frac = tat + 1, 0 end
    if tat < now then tat, frac = now, 0 end
  end
  local whole, part = muldivmod(cost, window, limit)
  local next, nextFrac = tat + whole, frac + part
  if nextFrac >= limit then next, nextFrac = next + 1, nextFrac - limit end
  local ahead = next - now
  if ahead < window or (ahead == window and nextFrac == 0) then
    local reset, nextState = ahead, fmt(next)
    if nextFrac > 0 then reset, nextState = ahead + 1, nextState .. ':' .. fmt(nextFrac) end
    return 1, units_within(window - ahead, nextFrac, limit, window), reset, 0, nextState, now, math.huge
  end
  local reset, retry = tat - now, ahead - window
  if frac > 0 then reset = reset + 1 end
  if nextFrac > 0 then retry = retry + 1 end
  return 0, units_within(window - (tat - now), frac, limit, window), reset, retry, nil, now, math.huge
end
`;
