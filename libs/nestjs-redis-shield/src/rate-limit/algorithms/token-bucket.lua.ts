/** Lua twin of `tokenBucket.decide`; state `level:lastMs` in token·ms units. */
export const TOKEN_BUCKET_LUA = `
local function token_bucket(state, limit, window, cost, now)
  if cost > limit then return never(token_bucket(state, limit, window, 0, now)) end
  local capacity = limit * window
  local level, last = capacity, now
  if state then
    local sl, st = string.match(state, '^(%d+):(%d+)$')
    level, last = tonumber(sl), tonumber(st)
    if now > last then level, last = math.min(capacity, level + (now - last) * limit), now end
  end
  local need = cost * window
  if level >= need then
    local after = level - need
    local reset = math.ceil((capacity - after) / limit)
    if after < capacity then reset = reset + last - now end
    return 1, math.floor(after / window), reset, 0, fmt(after) .. ':' .. fmt(last), last, math.huge
  end
  return 0, math.floor(level / window), math.ceil((capacity - level) / limit) + last - now,
    math.max(1, math.ceil((need - level) / limit) + last - now), nil, last, math.huge
end
`;
