import { ManualClock } from '../../redis/clock.js';
import { buildPolicy } from '../policy.js';
import { MemoryRateLimitStore } from './memory.store.js';

const policy = buildPolicy('p', { tiers: { minute: { limit: 2, windowMs: 60_000 } } }, 'fixed-window');

describe('MemoryRateLimitStore', () => {
  let clock: ManualClock;
  let store: MemoryRateLimitStore;

  beforeEach(() => {
    clock = new ManualClock(Date.parse('2031-01-01T00:00:00Z'));
    store = new MemoryRateLimitStore({ clock, maxClients: 3 });
  });

  afterEach(() => store.close());

  const consume = (clientId: string) => store.consume({ clientId, policies: [policy], cost: 1 });

  it('keeps at most maxClients, dropping the least recently seen', async () => {
    await consume('a');
    await consume('b');
    await consume('c');
    await consume('a'); // a is now the most recent; b the least
    await consume('d');
    expect(store.size).toBe(3);
    // b was forgotten (fresh quota); a kept its count.
    expect((await consume('b')).tiers[0].remaining).toBe(1);
    expect((await consume('a')).allowed).toBe(false);
  });

  it('sweeps expired buckets (twice the longest window) without a timer per key', async () => {
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    for (let i = 0; i < 3; i++) await consume(`client-${i}`);
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBe(timersBefore);
    clock.advance(120_000 - 1);
    store.sweep();
    expect(store.size).toBe(3);
    clock.advance(1);
    store.sweep();
    expect(store.size).toBe(0);
  });

  it('peek creates no bucket', async () => {
    await store.peek({ clientId: 'ghost', policies: [policy] });
    expect(store.size).toBe(0);
  });
});
