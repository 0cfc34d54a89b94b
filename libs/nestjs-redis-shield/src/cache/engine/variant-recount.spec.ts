import { VARIANT_RECOUNT_MS, VariantRecounts } from './variant-recount.js';

function setup(maxVariants = 3) {
  let now = 1_000_000;
  const recounts = new VariantRecounts(maxVariants, () => now);
  return { recounts, advance: (ms: number) => (now += ms) };
}

describe('VariantRecounts', () => {
  it('trusts a count below the cap, and never notes it', () => {
    const { recounts } = setup();
    expect(recounts.due('R.a', 'shared', 0, '5')).toBe(false);
    expect(recounts.due('R.a', 'shared', 2, '5')).toBe(false);
    expect(recounts.due('R.a', 'shared', 3, '5')).toBe(true); // first time at the cap
  });

  it('recounts at the cap once per route, scope and generation', () => {
    const { recounts } = setup();
    expect(recounts.due('R.a', 'shared', 3, '5')).toBe(true);
    expect(recounts.due('R.a', 'shared', 3, '5')).toBe(false);
    expect(recounts.due('R.a', 'shared', 7, '5')).toBe(false);
    expect(recounts.due('R.a', 'shared', 3, '6')).toBe(true); // an invalidation since
    expect(recounts.due('R.a', 'shared', 3, '6')).toBe(false);
  });

  it('keeps routes and scopes apart', () => {
    const { recounts } = setup();
    expect(recounts.due('R.a', 'shared', 3, '5')).toBe(true);
    expect(recounts.due('R.b', 'shared', 3, '5')).toBe(true);
    expect(recounts.due('R.a', 'user:x', 3, '5')).toBe(true);
    expect(recounts.due('R.a', 'user:y', 3, '5')).toBe(true);
    expect(recounts.due('R.a', 'user:x', 3, '5')).toBe(false);
  });

  it(`recounts again after ${VARIANT_RECOUNT_MS} ms in one generation (entries Redis evicted)`, () => {
    const { recounts, advance } = setup();
    expect(recounts.due('R.a', 'shared', 3, '5')).toBe(true);
    advance(VARIANT_RECOUNT_MS - 1);
    expect(recounts.due('R.a', 'shared', 3, '5')).toBe(false);
    advance(1);
    expect(recounts.due('R.a', 'shared', 3, '5')).toBe(true);
    expect(recounts.due('R.a', 'shared', 3, '5')).toBe(false);
  });

  it('forgets past 10 000 routes and scopes, so memory stays bounded', () => {
    const { recounts } = setup();
    for (let i = 0; i < 10_000; i++) expect(recounts.due('R.a', `user:${i}`, 3, '5')).toBe(true);
    expect(recounts.due('R.a', 'user:0', 3, '5')).toBe(false); // still remembered
    expect(recounts.due('R.a', 'user:new', 3, '5')).toBe(true); // forgets the oldest, then notes this one
    expect(recounts.due('R.a', 'user:0', 3, '5')).toBe(true); // forgotten
    expect(recounts.due('R.a', 'user:new', 3, '5')).toBe(false);
  });

  it('forgets the route and scope recounted longest ago first, keeping the others', () => {
    const { recounts, advance } = setup();
    for (let i = 0; i < 10_000; i++) expect(recounts.due('R.a', `user:${i}`, 3, '5')).toBe(true);
    advance(1);
    expect(recounts.due('R.a', 'user:new', 3, '5')).toBe(true); // forgets user:0 only
    expect(recounts.due('R.a', 'user:1', 3, '5')).toBe(false);
    expect(recounts.due('R.a', 'user:9999', 3, '5')).toBe(false);
    expect(recounts.due('R.a', 'user:0', 3, '5')).toBe(true); // forgets user:1
    expect(recounts.due('R.a', 'user:1', 3, '5')).toBe(true); // forgets user:2
    expect(recounts.due('R.a', 'user:3', 3, '5')).toBe(false);
  });
});
