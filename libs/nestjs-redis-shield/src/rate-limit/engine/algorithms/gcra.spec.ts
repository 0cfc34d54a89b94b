import { gcra } from './gcra.js';

describe('gcra', () => {
  const nowMs = Date.parse('2031-01-01T00:00:00Z');

  it('keeps the arrival time as an exact rational: 3 units of 1000/7 ms leave 4/7 ms', () => {
    const tier = { limit: 7, windowMs: 1000 };
    const first = gcra.decide(undefined, tier, 3, nowMs);
    expect(first).toMatchObject({ allowed: true, remaining: 4, resetMs: 429, next: [nowMs + 428, 4] });
    // 7 × 1000/7 ms is exactly the window: the 7th unit fits, an 8th waits exactly 1000/7 ms.
    const full = gcra.decide(first.next, tier, 4, nowMs);
    expect(full).toMatchObject({ allowed: true, remaining: 0, resetMs: 1000, next: [nowMs + 1000] });
    expect(gcra.decide(full.next, tier, 1, nowMs)).toMatchObject({ allowed: false, retryAfterMs: 143 });
  });

  it('rounds a stored remainder that a lowered limit cannot express up to the next ms', () => {
    // Written under a larger limit: 10 ms and 999 / limit ahead; read with limit 3.
    const verdict = gcra.decide([nowMs + 10, 999], { limit: 3, windowMs: 1000 }, 1, nowMs);
    // Read as nowMs + 11, plus 1000/3 ms = nowMs + 344 + 1/3 ms.
    expect(verdict).toMatchObject({ allowed: true, remaining: 1, resetMs: 345, next: [nowMs + 344, 1] });
  });
});
