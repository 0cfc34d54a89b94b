import { mulDivMod } from './exact-arithmetic.js';

/** The operands the algorithms pass: a limit (≤ 10^9), a window (≤ 31 days), a cost or elapsed time. */
const EDGES = [
  0,
  1,
  2,
  3,
  7,
  65_535,
  65_536,
  65_537,
  999_999_937,
  1_000_000_000,
  2 ** 31,
  2_678_399_999,
  2_678_400_000,
  2 ** 32 - 1,
];

function exact(a: number, b: number, m: number): [number, number] {
  const product = BigInt(a) * BigInt(b);
  return [Number(product / BigInt(m)), Number(product % BigInt(m))];
}

describe('mulDivMod', () => {
  it('divides products up to 2^64 exactly at the edges of the supported ranges', () => {
    for (const a of EDGES) {
      for (const b of EDGES) {
        for (const m of EDGES.filter((value) => value > 0)) {
          if ((BigInt(a) * BigInt(b)) / BigInt(m) >= 2n ** 53n) continue; // outside its contract
          expect([a, b, m, ...mulDivMod(a, b, m)]).toEqual([a, b, m, ...exact(a, b, m)]);
        }
      }
    }
  });

  it('divides random products exactly where a · b is far beyond 2^53', () => {
    let seed = 7;
    const random = (below: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return Math.floor((seed / 2 ** 31) * below);
    };
    for (let i = 0; i < 20_000; i++) {
      const limit = 1 + random(1_000_000_000);
      const windowMs = 1 + random(2_678_400_000);
      // cost × window / limit (GCRA), elapsed × limit / window (token bucket), tokens × window / limit.
      const cost = 1 + random(limit);
      const elapsed = random(windowMs);
      for (const [a, b, m] of [
        [cost, windowMs, limit],
        [elapsed, limit, windowMs],
      ]) {
        expect(mulDivMod(a, b, m)).toEqual(exact(a, b, m));
      }
    }
  });
});
