/** Lua twin of `tokenBucket.decide`; state `level:lastMs` in token·ms units. */
export const TOKEN_BUCKET_LUA = `
local function token_bucket(state, limit, window, cost, now)
  local capacity = limit * window
  local level, last = capacity, now
  if state then
    local sl, st = string.match(state, '^(%d+):(%d+)$')
    level, last = tonumber(sl), tonumber(st)
    if now > last then level = math.min(capacity, level + (now - last) * limit) end
    last = math.max(last, now)
  end
  local need = cost * window
  if level >= need then
    local after = level - need
    return 1, math.floor(after / window), math.ceil((capacity - after) / limit), 0, fmt(after) .. ':' .. fmt(last)
  end
  return 0, math.floor(level / window), math.ceil((capacity - level) / limit),
    math.max(1, math.ceil((need - level) / limit)), nil
end
`;
