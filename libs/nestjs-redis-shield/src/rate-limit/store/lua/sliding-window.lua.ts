import { WEIGHT_ONE } from '../../engine/algorithms/exact-arithmetic.js';

/**
 * Lua twin of `slidingWindow.decide` (its contract: `RateLimitAlgorithm` in algorithm.ts);
 * state `index:current[:previous]`, index the window number wrapped by `window_index`
 * (see window-index.ts).
 */
export const SLIDING_WINDOW_LUA = `
local WEIGHT_ONE = ${WEIGHT_ONE}
local function first_elapsed_within(room, count, window)
  local most = math.floor(room * WEIGHT_ONE / count)
  return window - math.ceil((most + 1) * window / WEIGHT_ONE) + 1
end
local function decide(state, limit, window, cost, now, ttl)
  if cost > limit then return never(decide(state, limit, window, 0, now, ttl)) end
  local w = math.floor((now - EPOCH) / window)
  local current, previous = 0, 0
  -- The stored index and counts as read, to write back without formatting them again
  -- (a number to text costs Redis more than the rest of a tier's arithmetic).
  local index_text, previous_text
  if state then
    local sw, sc, sp = string.match(state, '^(-?%d+):(%d+):?(%d*)$')
    local offset = window_offset(tonumber(sw), w, window, ttl)
    if offset == -1 then
      previous, previous_text = tonumber(sc), sc
    elseif offset then
      w, current, previous = w + offset, tonumber(sc), tonumber(sp) or 0
      index_text, previous_text = sw, sp
    end
  end
  local start = EPOCH + w * window
  local elapsed, lead = math.max(0, now - start), math.max(0, start - now)
  local weighted = previous * math.floor((window - elapsed) * WEIGHT_ONE / window)
  local room = (limit - current - cost) * WEIGHT_ONE - weighted
  local reset = start + window - now
  local at, horizon = math.max(now, start), window_horizon(w, window, ttl)
  if room >= 0 then
    local nextState = (index_text or fmt(window_index(w, window, ttl))) .. ':' .. fmt(current + cost)
    if previous > 0 then nextState = nextState .. ':' .. (previous_text or fmt(previous)) end
    return 1, math.floor(room / WEIGHT_ONE), reset, 0, nextState, at, horizon
  end
  local retry
  if current + cost <= limit then
    retry = first_elapsed_within(limit - current - cost, previous, window) - elapsed + lead
  else
    retry = reset + first_elapsed_within(limit - cost, current, window)
  end
  return 0, math.max(0, math.floor(((limit - current) * WEIGHT_ONE - weighted) / WEIGHT_ONE)), reset, retry, nil,
    at, horizon
end
`;
