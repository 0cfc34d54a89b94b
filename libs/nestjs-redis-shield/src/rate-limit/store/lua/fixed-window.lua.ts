/**
 * Lua twin of `fixedWindow.decide` (its contract: `RateLimitAlgorithm` in algorithm.ts);
 * state `index:count`, index the window number wrapped by `window_index`.
 */
export const FIXED_WINDOW_LUA = `
local function decide(state, limit, window, cost, now, ttl)
  if cost > limit then return never(decide(state, limit, window, 0, now, ttl)) end
  local w = math.floor((now - EPOCH) / window)
  local count = 0
  local index_text -- the stored index as read: written back without formatting it again
  if state then
    local sw, sc = string.match(state, '^(-?%d+):(%d+)$')
    local offset = window_offset(tonumber(sw), w, window, ttl)
    if offset and offset >= 0 then w, count, index_text = w + offset, tonumber(sc), sw end
  end
  local start = EPOCH + w * window
  local reset = start + window - now
  local at, horizon = math.max(now, start), window_horizon(w, window, ttl)
  if count + cost <= limit then
    return 1, limit - count - cost, reset, 0, (index_text or fmt(window_index(w, window, ttl))) .. ':' .. fmt(count + cost), at,
      horizon
  end
  return 0, math.max(0, limit - count), reset, reset, nil, at, horizon
end
`;
