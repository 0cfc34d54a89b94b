import type { ViolationRecord } from '../../rate-limit/engine/violation.js';
import { aliveInstances, hitRatio, INSTANCE_ALIVE_MS, topRejected } from './dashboard-data.js';

const HASH_A = 'AAAAAAAAAAAAAAAAAAAAAA';
const HASH_B = 'BBBBBBBBBBBBBBBBBBBBBB';

function violation(client: string, count: number, atMs: number, shadow = false): ViolationRecord {
  return { client, policy: 'default', tier: 'minute', route: '/x', atMs, firstAtMs: atMs, count, shadow };
}

describe('topRejected', () => {
  it('sums real rejections per client, most first, with the HMAC apart for the reset', () => {
    const top = topRejected([
      violation(`ip:${HASH_A}`, 2, 1000),
      violation(`user:${HASH_B}`, 5, 900),
      violation(`ip:${HASH_A}`, 1, 3000),
      violation(`user:${HASH_B}`, 50, 4000, true),
    ]);
    expect(top).toEqual([
      { client: `user:${HASH_B}`, hash: HASH_B, rejected: 5, last_at: new Date(900).toISOString() },
      { client: `ip:${HASH_A}`, hash: HASH_A, rejected: 3, last_at: new Date(3000).toISOString() },
    ]);
  });

  it('keeps at most `limit` clients', () => {
    const many = Array.from({ length: 15 }, (_, i) => violation(`ip:${String(i).padStart(22, 'x')}`, i + 1, i));
    const top = topRejected(many, 10);
    expect(top).toHaveLength(10);
    expect(top[0]!.rejected).toBe(15);
  });
});

describe('hitRatio', () => {
  it('counts L1, Redis and stale answers as hits, and is null before any lookup', () => {
    expect(hitRatio({ l1: 1, redis: 1, stale: 1, miss: 1 })).toBe(0.75);
    expect(hitRatio({ l1: 0, redis: 0, stale: 0, miss: 0 })).toBeNull();
  });
});

describe('aliveInstances', () => {
  it('lists recent heartbeats newest first, this instance always', () => {
    const now = 1_000_000;
    const alive = aliveInstances({ old: now - INSTANCE_ALIVE_MS - 1, other: now - 500 }, 'me', now);
    expect(alive.map(({ id, current }) => [id, current])).toEqual([
      ['me', true],
      ['other', false],
    ]);
  });
});
