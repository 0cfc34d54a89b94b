import { DashboardTally, instanceField, parseDashboardHash } from './dashboard-counts.js';

/** What Redis would hold after HINCRBY of every entry of the tallies. */
function hashOf(...tallies: DashboardTally[]): Record<string, string> {
  const hash: Record<string, number> = {};
  for (const tally of tallies) for (const [field, count] of tally.entries()) hash[field] = (hash[field] ?? 0) + count;
  return Object.fromEntries(Object.entries(hash).map(([field, count]) => [field, String(count)]));
}

describe('DashboardTally and parseDashboardHash', () => {
  it('sums decisions by policy and tier, layers and routes of several instances', () => {
    const first = new DashboardTally();
    const second = new DashboardTally();
    first.decision('default', 'minute', 'allowed');
    first.decision('default', 'minute', 'allowed');
    second.decision('default', 'minute', 'rejected');
    second.decision('default', 'hour', 'allowed');
    first.layer('l1');
    second.layer('redis');
    second.layer('stale');
    first.layer('miss');
    first.route('/api/v1/models', 'HIT');
    second.route('/api/v1/models', 'MISS');
    second.route('/api/v1/models/:id', 'BYPASS');

    const counts = parseDashboardHash(hashOf(first, second));

    expect(counts.decisions).toEqual([
      { policy: 'default', tier: 'hour', allowed: 1, rejected: 0 },
      { policy: 'default', tier: 'minute', allowed: 2, rejected: 1 },
    ]);
    expect(counts.layers).toEqual({ l1: 1, redis: 1, stale: 1, miss: 1 });
    expect(counts.routes).toEqual([
      { route: '/api/v1/models', hit: 1, stale: 0, miss: 1, bypass: 0 },
      { route: '/api/v1/models/:id', hit: 0, stale: 0, miss: 0, bypass: 1 },
    ]);
  });

  it('keeps names apart whatever characters they hold', () => {
    const tally = new DashboardTally();
    tally.decision('a:b', 'c', 'allowed');
    tally.decision('a', 'b:c', 'rejected');
    tally.decision('x","y', 'z', 'allowed');
    expect(parseDashboardHash(hashOf(tally)).decisions).toEqual([
      { policy: 'a', tier: 'b:c', allowed: 0, rejected: 1 },
      { policy: 'a:b', tier: 'c', allowed: 1, rejected: 0 },
      { policy: 'x","y', tier: 'z', allowed: 1, rejected: 0 },
    ]);
  });

  it('reads heartbeats and skips fields it does not know', () => {
    const counts = parseDashboardHash({
      [instanceField('abc')]: '1700000000000',
      'not json': '5',
      '["layer","l9"]': '5',
      '["rl","p","t","maybe"]': '5',
      '["route","/x","HIT"]': 'NaN',
    });
    expect(counts.instances).toEqual({ abc: 1_700_000_000_000 });
    expect(counts.decisions).toEqual([]);
    expect(counts.routes).toEqual([]);
    expect(counts.layers).toEqual({ l1: 0, redis: 0, stale: 0, miss: 0 });
  });

  it('merges a tally that could not be sent in front of the new one', () => {
    const unsent = new DashboardTally();
    unsent.layer('l1');
    const current = new DashboardTally();
    current.layer('l1');
    current.layer('miss');
    expect(unsent.empty).toBe(false);
    expect(parseDashboardHash(hashOf(unsent.merge(current))).layers).toEqual({ l1: 2, redis: 0, stale: 0, miss: 1 });
    expect(new DashboardTally().empty).toBe(true);
  });
});
