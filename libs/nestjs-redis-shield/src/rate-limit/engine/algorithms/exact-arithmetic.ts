/**
 * Exact integer arithmetic on IEEE doubles, the only numbers Redis's Lua (5.1) has: an
 * integer is exact below 2^53, and ⌊x / m⌋ computed as `floor(x / m)` is exact while
 * x + m < 2^53 (the quotient can only round up to the next integer when m · (⌊x/m⌋ + 1)
 * exceeds 2^53). The algorithms use these helpers, in TypeScript and in their Lua twins
 * below, so both stores take the same steps on the same doubles.
 *
 * The supported ranges (see `policy.ts`) bound every operand: limit ≤ 10^9 < 2^30,
 * window ≤ 2 678 400 000 ms (31 days) < 2^32, cost ≤ limit.
 */

/**
 * The sliding window's unit weight, 2^21: the previous window's weight is a whole multiple
 * of 2^-21. The largest scaled quantities stay below 2^53 (9.0e15): (window − elapsed) × 2^21
 * ≤ 5.6e15 for a 31-day window, and |limit − current − cost| × 2^21 + previous × weight
 * ≤ 3 × 10^9 × 2^21 ≈ 6.3e15.
 */
export const WEIGHT_ONE = 2 ** 21;

/** 2^16: a factor cut into two such chunks keeps every partial product below 2^48. */
const CHUNK = 65_536;

/**
 * ⌊a · b / m⌋ and a · b mod m, exactly, for integers 0 ≤ a ≤ 2^32, 0 ≤ b < 2^32,
 * 1 ≤ m ≤ 2^32 whose quotient is below 2^53 (a · b itself may reach 2^64).
 *
 * b is cut into two 16-bit chunks and the product divided Horner-style: each partial
 * value stays below 2^49 (a remainder below 2^32 times 2^16, plus a times a chunk), so
 * every product, floor division and remainder is exact.
 */
export function mulDivMod(a: number, b: number, m: number): [quotient: number, remainder: number] {
  const high = Math.floor(b / CHUNK);
  const low = b - high * CHUNK;
  let partial = a * high;
  const q1 = Math.floor(partial / m);
  partial = (partial - q1 * m) * CHUNK + a * low;
  const q2 = Math.floor(partial / m);
  return [q1 * CHUNK + q2, partial - q2 * m];
}

/**
 * Lua twin of {@link mulDivMod}: `muldivmod(a, b, m)` returns quotient, remainder.
 * (`%` is not used: Lua 5.1 defines it through the same floor, so this is the same arithmetic.)
 */
export const EXACT_ARITHMETIC_LUA = `
local function muldivmod(a, b, m)
  local high = math.floor(b / 65536)
  local low = b - high * 65536
  local partial = a * high
  local q1 = math.floor(partial / m)
  partial = (partial - q1 * m) * 65536 + a * low
  local q2 = math.floor(partial / m)
  return q1 * 65536 + q2, partial - q2 * m
end
`;
