import { buildPolicy, DEFAULT_TIERS } from '../../index.js';
import { parseIntegers, stateFields } from './redis.store.js';

describe('stateFields', () => {
  it('gives each tier a distinct small-integer field, the same whatever the tier order', () => {
    const policy = buildPolicy('default', { tiers: { ...DEFAULT_TIERS } }, 'sliding-window');
    const fields = stateFields(policy);
    expect(new Set(fields).size).toBe(3);
    for (const field of fields) expect(field).toMatch(/^(?:\d|[1-9]\d|1[01]\d|12[0-7])$/);
    const { minute, hour, burst } = DEFAULT_TIERS;
    const reordered = buildPolicy('default', { tiers: { burst, minute, hour } }, 'sliding-window');
    const byName = (p: typeof policy) => Object.fromEntries(p.tiers.map((tier, i) => [tier.name, stateFields(p)[i]]));
    expect(byName(reordered)).toEqual(byName(policy));
  });

  it('changes a tier field when its window or algorithm changes (old state must not be read)', () => {
    const base = buildPolicy('p', { tiers: { minute: { limit: 5, windowMs: 60_000 } } }, 'sliding-window');
    const longer = buildPolicy('p', { tiers: { minute: { limit: 5, windowMs: 120_000 } } }, 'sliding-window');
    const other = buildPolicy('p', { tiers: { minute: { limit: 5, windowMs: 60_000 } } }, 'gcra');
    const sameButLimit = buildPolicy('p', { tiers: { minute: { limit: 9, windowMs: 60_000 } } }, 'sliding-window');
    expect(stateFields(longer)).not.toEqual(stateFields(base));
    expect(stateFields(other)).not.toEqual(stateFields(base));
    expect(stateFields(sameButLimit)).toEqual(stateFields(base)); // a new limit applies to the running window
  });

  it('stays unique for many tiers', () => {
    const tiers = Object.fromEntries(
      Array.from({ length: 12 }, (_, i) => [`t${i}`, { limit: 5, windowMs: 1000 * (i + 1) }]),
    );
    const fields = stateFields(buildPolicy('many', { tiers }, 'fixed-window'));
    expect(new Set(fields).size).toBe(12);
  });
});

describe('parseIntegers (the rate-limit script reply)', () => {
  it('reads space-separated integers, negative ones and those past 2^32, and cuts a fraction toward zero', () => {
    expect(parseIntegers('1 1733500000000 0 -1 4294967296 9007199254740991 7')).toEqual([
      1, 1733500000000, 0, -1, 4294967296, 9007199254740991, 7,
    ]);
    expect(parseIntegers('12.5 -3.75 0')).toEqual([12, -3, 0]);
    expect(parseIntegers('42')).toEqual([42]);
  });
});
