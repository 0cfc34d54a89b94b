/**
 * Lua twin of `slidingWindow.decide`; state `index:current[:previous]`, where index is the
 * window number wrapped by `window_index` (see rate-limit.lua.ts).
 */
export const SLIDING_WINDOW_LUA = `
local function sliding_window(state, limit, window, cost, now, ttl)
  local w = math.floor((now - EPOCH) / window)
  local index = window_index(w, window, ttl)
  local current, previous = 0, 0
  if state then
    local sw, sc, sp = string.match(state, '^(-?%d+):(%d+):?(%d*)$')
    sw = tonumber(sw)
    if sw == index then
      current, previous = tonumber(sc), tonumber(sp) or 0
    elseif sw == window_index(w - 1, window, ttl) then
      previous = tonumber(sc)
    end
  end
  local elapsed = now - EPOCH - w * window
  local estimate = (previous * (window - elapsed)) / window + current
  local reset = window - elapsed
  if estimate + cost <= limit then
    local nextState = fmt(index) .. ':' .. fmt(current + cost)
    if previous > 0 then nextState = nextState .. ':' .. fmt(previous) end
    return 1, math.floor(limit - estimate - cost), reset, 0, nextState
  end
  local retry
  if current + cost <= limit then
    retry = math.ceil(window * (1 - (limit - current - cost) / previous) - elapsed)
  else
    local decay = 0
    if current > 0 then decay = window * (1 - (limit - cost) / current) end
    retry = math.ceil(reset + math.max(0, decay))
  end
  return 0, math.max(0, math.floor(limit - estimate)), reset, math.max(1, retry), nil
end
`;
