/** Lua twin of `fixedWindow.decide`; state `index:count` (index: see `window_index`). */
export const FIXED_WINDOW_LUA = `
local function fixed_window(state, limit, window, cost, now, ttl)
  local w = math.floor((now - EPOCH) / window)
  local index = window_index(w, window, ttl)
  local count = 0
  if state then
    local sw, sc = string.match(state, '^(-?%d+):(%d+)$')
    if tonumber(sw) == index then count = tonumber(sc) end
  end
  local reset = EPOCH + (w + 1) * window - now
  if count + cost <= limit then
    return 1, limit - count - cost, reset, 0, fmt(index) .. ':' .. fmt(count + cost)
  end
  return 0, math.max(0, limit - count), reset, reset, nil
end
`;
