import type { CachedResponse } from './entry-codec.js';
import { expiresAtOf, L1Cache, type L1BusLifetime } from './l1-cache.js';

const options = { maxBytes: 10_000, perUser: false, maxAgeWithoutBusMs: 1000 };

/** A bus whose connection the test drives, with InstanceBus's lifetime rule. */
class FakeBus implements L1BusLifetime {
  epoch = 0;
  up = true;
  set(up: boolean): void {
    if (up !== this.up) this.epoch++;
    this.up = up;
  }
  maxLocalLifetimeMs(epoch: number): number {
    return this.up && epoch === this.epoch ? Infinity : 5000;
  }
}

function setup(overrides: Partial<typeof options> = {}) {
  let now = 1_000_000;
  const bus = new FakeBus();
  const l1 = new L1Cache({ ...options, ...overrides }, bus, () => now);
  return { l1, bus, advance: (ms: number) => (now += ms), now: () => now };
}

const bytes = (n: number) => Buffer.alloc(n, 1);

describe('L1Cache', () => {
  it('serves what was put under the current generation until it expires', () => {
    const { l1, advance, now } = setup();
    const value = bytes(100);
    expect(l1.put('d1', value, { generation: l1.generation, expiresAt: now() + 500, perUser: false })).toBe(true);
    expect(l1.get('d1')).toBe(value);
    advance(499);
    expect(l1.get('d1')).toBe(value);
    advance(1);
    expect(l1.get('d1')).toBeUndefined();
  });

  it('holds: whether that very value is kept for the digest, stale or fresh, and no longer after an invalidation', () => {
    const { l1, advance, now } = setup();
    const value = bytes(100);
    l1.put('d1', value, { generation: l1.generation, expiresAt: now() + 500, freshUntil: now() + 100, perUser: false });
    expect([l1.holds('d1', value), l1.holds('d1', bytes(100)), l1.holds('d2', value)]).toEqual([true, false, false]);
    advance(200); // stale: still held
    expect(l1.holds('d1', value)).toBe(true);
    l1.invalidateAll();
    expect(l1.holds('d1', value)).toBe(false);
  });

  it('refuses an entry read before an invalidation arrived, and drops what it keeps on one', () => {
    const { l1, now } = setup();
    const before = l1.generation;
    l1.put('kept', bytes(10), { generation: before, expiresAt: now() + 10_000, perUser: false });
    l1.invalidateAll();
    expect(l1.generation).toBe(before + 1);
    expect(l1.get('kept')).toBeUndefined();
    // A Redis read that began before the invalidation may hold what it deleted.
    expect(l1.put('late', bytes(10), { generation: before, expiresAt: now() + 10_000, perUser: false })).toBe(false);
    expect(l1.get('late')).toBeUndefined();
    expect(l1.put('late', bytes(10), { generation: l1.generation, expiresAt: now() + 10_000, perUser: false })).toBe(
      true,
    );
  });

  it('a key invalidation drops that entry and advances the generation', () => {
    const { l1, now } = setup();
    const generation = l1.generation;
    l1.put('a', bytes(10), { generation, expiresAt: now() + 10_000, perUser: false });
    l1.put('b', bytes(10), { generation, expiresAt: now() + 10_000, perUser: false });
    l1.invalidateKey('a');
    expect(l1.get('a')).toBeUndefined();
    // 'b' was kept under the older generation: never served once it is not current.
    expect(l1.get('b')).toBeUndefined();
  });

  it('is bounded in bytes: the oldest entries go first', () => {
    const { l1, now } = setup({ maxBytes: 1000 });
    const meta = { generation: 0, expiresAt: now() + 10_000, perUser: false };
    l1.put('a', bytes(300), meta);
    l1.put('b', bytes(300), meta);
    l1.put('c', bytes(300), meta); // 3 × (300 + 1 + 128) > 1000
    expect(l1.get('a')).toBeUndefined();
    expect(l1.get('b')).toBeDefined();
    expect(l1.get('c')).toBeDefined();
    expect(l1.bytes).toBeLessThanOrEqual(1000);
    expect(l1.put('huge', bytes(2000), meta)).toBe(false);
  });

  it('keeps per-user entries only with perUser', () => {
    const off = setup();
    const meta = { generation: 0, expiresAt: off.now() + 10_000, perUser: true };
    expect(off.l1.put('u', bytes(10), meta)).toBe(false);
    expect(off.l1.get('u')).toBeUndefined();
    const on = setup({ perUser: true });
    expect(on.l1.put('u', bytes(10), meta)).toBe(true);
    expect(on.l1.get('u')).toBeDefined();
  });

  it('keeps nothing with maxBytes 0', () => {
    const { l1, now } = setup({ maxBytes: 0 });
    expect(l1.enabled).toBe(false);
    expect(l1.put('a', bytes(1), { generation: 0, expiresAt: now() + 10_000, perUser: false })).toBe(false);
  });

  it('while the bus is (or was) down, serves an entry for at most maxAgeWithoutBusMs after it was put', () => {
    const { l1, bus, advance, now } = setup();
    const meta = () => ({ generation: l1.generation, expiresAt: now() + 60_000, perUser: false });
    l1.put('a', bytes(10), meta());
    bus.set(false);
    advance(1000);
    expect(l1.get('a')).toBeDefined();
    advance(1);
    expect(l1.get('a')).toBeUndefined();
    // Put while down: the same bound.
    l1.put('b', bytes(10), meta());
    advance(1001);
    expect(l1.get('b')).toBeUndefined();
    // Back up, but the entry was put in an older epoch: still bounded.
    l1.put('c', bytes(10), meta());
    bus.set(true);
    advance(1001);
    expect(l1.get('c')).toBeUndefined();
    // Put while connected and still connected: no bound but its TTL.
    l1.put('d', bytes(10), meta());
    advance(30_000);
    expect(l1.get('d')).toBeDefined();
  });

  it('without a bus, every entry is bounded by maxAgeWithoutBusMs', () => {
    let now = 0;
    const l1 = new L1Cache(options, undefined, () => now);
    l1.put('a', bytes(10), { generation: 0, expiresAt: 60_000, perUser: false });
    now = 1000;
    expect(l1.get('a')).toBeDefined();
    now = 1001;
    expect(l1.get('a')).toBeUndefined();
  });
});

describe('expiresAtOf', () => {
  const entry = (cacheControl?: string): CachedResponse => ({
    status: 200,
    headers: cacheControl ? { 'cache-control': cacheControl } : {},
    body: Buffer.alloc(0),
    storedAt: 5000,
    etag: '"x"',
  });

  it('is the stored time plus the route TTL, shortened by the stored Cache-Control as the write was', () => {
    expect(expiresAtOf(entry(), 60_000, true)).toBe(65_000);
    expect(expiresAtOf(entry('max-age=10'), 60_000, true)).toBe(15_000);
    expect(expiresAtOf(entry('max-age=10, s-maxage=20'), 60_000, true)).toBe(25_000);
    expect(expiresAtOf(entry('max-age=10, s-maxage=20'), 60_000, false)).toBe(15_000);
    expect(expiresAtOf(entry('max-age=600'), 60_000, true)).toBe(65_000);
    expect(expiresAtOf(entry('max-age=junk'), 60_000, true)).toBe(5000);
  });
});
