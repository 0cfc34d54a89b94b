import { buildPolicy, type RateLimitPolicy, type RateLimitStoreDecision } from 'nestjs-redis-shield';
import { storeTargets } from './setup.js';

// Concurrency tiers in both stores, Redis standalone and Cluster alike: a slot is a lease
// token taken in the same atomic step as the rate tiers (all-or-nothing), freed by
// release or when its lease ends.

const T0 = Date.parse('2031-01-01T00:00:00Z');
const LEASE = 5_000;

const targets = storeTargets(T0);

let clientCounter = 0;
const freshClient = () => `user:concurrency-${++clientCounter}-${Date.now()}`;

/** A policy with a concurrency tier `inflight` of `slots`, and rate tiers as given. */
function policy(name: string, slots: number, rate: Record<string, { limit: number; windowMs: number }> = {}) {
  return buildPolicy(
    name,
    { tiers: { ...rate, inflight: { kind: 'concurrency', limit: slots, leaseMs: LEASE } } },
    'fixed-window',
  );
}

const tier = (decision: RateLimitStoreDecision, name: string, policyName?: string) =>
  decision.tiers.find((t) => t.tier === name && (policyName === undefined || t.policy === policyName))!;

describe.each(['memory', 'redis', 'cluster'])('concurrency tiers in the %s store', (name) => {
  const target = () => targets.find((t) => t.name === name)!;
  const consume = (clientId: string, policies: RateLimitPolicy[], leaseToken?: string, cost = 1) =>
    target().store.consume({ clientId, policies, cost, leaseToken });

  it('admits n lease tokens, rejects the next with a 1 s wait, and admits again once one is released', async () => {
    const client = freshClient();
    const slots = policy('c-basic', 3);
    for (let i = 1; i <= 3; i++) {
      const decision = await consume(client, [slots], `t${i}`);
      expect(decision.allowed).toBe(true);
      expect(tier(decision, 'inflight')).toMatchObject({
        kind: 'concurrency',
        limit: 3,
        remaining: 3 - i,
        windowMs: 0,
      });
    }
    const over = await consume(client, [slots], 't4');
    expect(over.allowed).toBe(false);
    expect(tier(over, 'inflight')).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 1000, resetMs: 1000 });
    await target().store.release!(client, [slots], 't2');
    await target().store.release!(client, [slots], 't2'); // twice: no error, nothing more freed
    expect((await consume(client, [slots], 't5')).allowed).toBe(true);
    expect((await consume(client, [slots], 't6')).allowed).toBe(false);
  });

  it('is all-or-nothing with the rate tiers, within a policy and across policies', async () => {
    const client = freshClient();
    const both = policy('c-both', 5, { minute: { limit: 2, windowMs: 60_000 } });
    expect((await consume(client, [both], 'a')).allowed).toBe(true);
    expect((await consume(client, [both], 'b')).allowed).toBe(true);
    // The minute tier rejects: no slot is taken.
    const rejected = await consume(client, [both], 'c');
    expect(rejected.allowed).toBe(false);
    expect(tier(rejected, 'inflight')).toMatchObject({ allowed: true, remaining: 3 });
    const standing = await target().store.peek({ clientId: client, policies: [both] });
    expect(tier(standing, 'inflight').remaining).toBe(3);

    // The concurrency tier rejects: the rate tiers count nothing.
    const other = freshClient();
    const one = policy('c-one', 1, { minute: { limit: 10, windowMs: 60_000 } });
    const rate = buildPolicy('c-rate', { tiers: { minute: { limit: 10, windowMs: 60_000 } } }, 'fixed-window');
    expect((await consume(other, [rate, one], 'x')).allowed).toBe(true);
    const refused = await consume(other, [rate, one], 'y');
    expect(refused.allowed).toBe(false);
    expect(tier(refused, 'minute', 'c-rate')).toMatchObject({ allowed: true, remaining: 9 });
    expect(tier(refused, 'minute', 'c-one')).toMatchObject({ allowed: true, remaining: 9 });
    const after = await target().store.peek({ clientId: other, policies: [rate, one] });
    expect(after.tiers.map((t) => t.remaining)).toEqual([9, 9, 0]);
  });

  it('frees a slot when its lease ends (an instance that died never released it)', async () => {
    const client = freshClient();
    const slots = policy('c-lease', 2);
    expect((await consume(client, [slots], 'dead-1')).allowed).toBe(true);
    target().clock.advance(1000);
    expect((await consume(client, [slots], 'dead-2')).allowed).toBe(true);
    expect((await consume(client, [slots], 'live')).allowed).toBe(false);
    target().clock.advance(LEASE - 1000); // dead-1's lease ended, dead-2's has 1 s left
    expect((await consume(client, [slots], 'live')).allowed).toBe(true);
    expect((await consume(client, [slots], 'live-2')).allowed).toBe(false);
    target().clock.advance(1000);
    expect((await consume(client, [slots], 'live-2')).allowed).toBe(true);
  });

  it('takes no slot and never rejects without a lease token, for a peek, or for a policy that costs 0', async () => {
    const client = freshClient();
    const slots = policy('c-token', 1);
    for (let i = 0; i < 3; i++) {
      const decision = await consume(client, [slots]);
      expect(decision.allowed).toBe(true);
      expect(tier(decision, 'inflight').remaining).toBe(1);
    }
    expect((await consume(client, [slots], 'held')).allowed).toBe(true);
    const peek = await target().store.peek({ clientId: client, policies: [slots] });
    expect(peek.allowed).toBe(true);
    expect(tier(peek, 'inflight')).toMatchObject({ allowed: true, remaining: 0 });
    const free = await target().store.consume({
      clientId: client,
      policies: [slots],
      cost: 1,
      policyCosts: { 'c-token': 0 },
      leaseToken: 'free',
    });
    expect(free.allowed).toBe(true);
    await target().store.release!(client, [slots], 'held');
    expect((await consume(client, [slots], 'next')).allowed).toBe(true);
  });

  it('a shadow policy with a concurrency tier reports, never rejects', async () => {
    const client = freshClient();
    const shadow = buildPolicy(
      'c-shadow',
      { shadow: true, tiers: { inflight: { kind: 'concurrency', limit: 1 } } },
      'fixed-window',
    );
    expect((await consume(client, [shadow], 's1')).allowed).toBe(true);
    const second = await consume(client, [shadow], 's2');
    expect(second.allowed).toBe(true);
    expect(tier(second, 'inflight')).toMatchObject({ allowed: false, shadow: true });
  });
});
