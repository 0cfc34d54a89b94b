/**
 * Lua twin of `slidingWindow.decide`; state `index:current[:previous]`, where index is the
 * window number wrapped by `window_index` (see window-index.ts).
 */
export const SLIDING_WINDOW_LUA = `
local function sliding_window(state, limit, window, cost, now, ttl)
  if cost > limit then return never(sliding_window(state, limit, window, 0, now, ttl)) end
  local w = math.floor((now - EPOCH) / window)
  local current, previous = 0, 0
  if state then
    local sw, sc, sp = string.match(state, '^(-?%d+):(%d+):?(%d*)$')
    local offset = window_offset(tonumber(sw), w, window, ttl)
    if offset == -1 then
      previous = tonumber(sc)
    elseif offset then
      w, current, previous = w + offset, tonumber(sc), tonumber(sp) or 0
    end
  end
  local start = EPOCH + w * window
  local elapsed, lead = math.max(0, now - start), math.max(0, start - now)
  local estimate = (previous * (window - elapsed)) / window + current
  local reset = start + window - now
  local at, horizon = math.max(now, start), window_horizon(w, window, ttl)
  if estimate + cost <= limit then
    local nextState = fmt(window_index(w, window, ttl)) .. ':' .. fmt(current + cost)
    if previous > 0 then nextState = nextState .. ':' .. fmt(previous) end
    return 1, math.floor(limit - estimate - cost), reset, 0, nextState, at, horizon
  end
  local retry
  if current + cost <= limit then
    retry = math.ceil(window * (1 - (limit - current - cost) / previous) - elapsed) + lead
  else
    local decay = 0
    if current > 0 then decay = window * (1 - (limit - cost) / current) end
    retry = math.ceil(reset + math.max(0, decay))
  end
  return 0, math.max(0, math.floor(limit - estimate)), reset, math.max(1, retry), nil, at, horizon
end
`;
