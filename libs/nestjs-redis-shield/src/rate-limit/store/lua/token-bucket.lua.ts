/**
 * Lua twin of `tokenBucket.decide` (its contract: `RateLimitAlgorithm` in algorithm.ts);
 * state `tokens:lastMs` or `tokens:frac:lastMs`, the level tokens + frac / window. Ignores `ttl`.
 */
export const TOKEN_BUCKET_LUA = `
local function refill_ms(tokens, frac, limit, window)
  local whole, part = muldivmod(tokens, window, limit)
  if part > frac then return whole + 1 end
  return whole - math.floor((frac - part) / limit)
end
local function decide(state, limit, window, cost, now, ttl)
  if cost > limit then return never(decide(state, limit, window, 0, now, ttl)) end
  local tokens, frac, last = limit, 0, now
  if state then
    local a, b, c = string.match(state, '^(%d+):(%d+):?(%d*)$')
    if c == '' then
      tokens, last = tonumber(a), tonumber(b)
    else
      tokens, frac, last = tonumber(a), tonumber(b), tonumber(c)
    end
    if now > last then
      local elapsed = now - last
      last = now
      if elapsed >= window then
        tokens = limit
      else
        local whole, part = muldivmod(elapsed, limit, window)
        tokens, frac = tokens + whole, frac + part
        if frac >= window then tokens, frac = tokens + 1, frac - window end
      end
    end
    if tokens >= limit then tokens, frac = limit, 0 end
  end
  if tokens >= cost then
    local after = tokens - cost
    local reset = 0
    if after < limit then reset = refill_ms(limit - after, frac, limit, window) + last - now end
    local nextState = fmt(after) .. ':' .. fmt(last)
    if frac > 0 then nextState = fmt(after) .. ':' .. fmt(frac) .. ':' .. fmt(last) end
    return 1, after, reset, 0, nextState, last, math.huge
  end
  return 0, tokens, refill_ms(limit - tokens, frac, limit, window) + last - now,
    refill_ms(cost - tokens, frac, limit, window) + last - now, nil, last, math.huge
end
`;
