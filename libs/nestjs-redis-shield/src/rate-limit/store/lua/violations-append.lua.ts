/** Appends a batch of violation entries to the capped stream; see the header of the script. */
export const VIOLATIONS_APPEND_LUA = `
-- Appends one batch of rate-limit violation entries to the stream and keeps it within its cap.
-- KEYS[1]  stream: the violation stream
-- ARGV[1]  cap: the most entries kept
-- ARGV[2…] eight values per entry: client (kind:hmac), policy, tier, route, time of the last
--          violation in ms (field ts), shadow ('1' for a shadow policy's would-be rejections,
--          stored as field s; '0' omits it), how many violations the entry stands for (field n),
--          time of the first one in ms (field f)
-- Reply: the number of entries appended.
-- Each XADD trims approximately (whole macro nodes, cheap); one exact XTRIM at the end
-- removes the few entries over the cap, so the stream never holds more than the cap.
local stream, cap = KEYS[1], ARGV[1]
local appended = 0
for i = 2, #ARGV, 8 do
  if ARGV[i + 5] == '1' then
    redis.call('XADD', stream, 'MAXLEN', '~', cap, '*',
      'c', ARGV[i], 'p', ARGV[i + 1], 't', ARGV[i + 2], 'r', ARGV[i + 3], 'ts', ARGV[i + 4],
      'n', ARGV[i + 6], 'f', ARGV[i + 7], 's', '1')
  else
    redis.call('XADD', stream, 'MAXLEN', '~', cap, '*',
      'c', ARGV[i], 'p', ARGV[i + 1], 't', ARGV[i + 2], 'r', ARGV[i + 3], 'ts', ARGV[i + 4],
      'n', ARGV[i + 6], 'f', ARGV[i + 7])
  end
  appended = appended + 1
end
redis.call('XTRIM', stream, 'MAXLEN', cap)
return appended
`;
