/** Lua twin of `gcra.decide`; state: the theoretical arrival time in ms (full precision). */
export const GCRA_LUA = `
local function gcra(state, limit, window, cost, now)
  if cost > limit then return never(gcra(state, limit, window, 0, now)) end
  local interval = window / limit
  local slack = window * 1e-9
  local tat = now
  if state then tat = math.max(tonumber(state), now) end
  local next = tat + cost * interval
  if next - now <= window + slack then
    return 1, math.max(0, math.floor((window - (next - now)) / interval + 1e-9)),
      math.max(0, math.ceil(next - now - slack)), 0, string.format('%.17g', next), now, math.huge
  end
  return 0, math.max(0, math.floor((window - (tat - now)) / interval + 1e-9)),
    math.ceil(tat - now - slack), math.max(1, math.ceil(next - window - now - slack)), nil, now, math.huge
end
`;
