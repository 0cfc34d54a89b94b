import { buildPolicy, RedisCommandError, type RateLimitStoreDecision } from 'nestjs-redis-shield';
import { Deadline } from '../../../libs/nestjs-redis-shield/src/core/deadline.js';
import { MAX_BATCH } from '../../../libs/nestjs-redis-shield/src/rate-limit/store/decision-batch.js';
import { type RedisServer, type RespProxy, startRedis, startRespProxy } from '../../harness/index.js';
import { type LimiterApp, startLimiter } from './setup.js';

// The decisions asked for in one event-loop turn go to Redis as one script call
// (DecisionBatch): counts stay exact, each request keeps its own verdict and errors.
describe('decisions of one event-loop turn in one script call', () => {
  let server: RedisServer;
  let proxy: RespProxy;
  let limiter: LimiterApp;

  const tight = buildPolicy('tight', { tiers: { minute: { limit: 30, windowMs: 60_000 } } }, 'sliding-window');
  const wide = buildPolicy(
    'wide',
    { tiers: { second: { limit: 100, windowMs: 1000 }, hour: { limit: 1000, windowMs: 3_600_000 } } },
    'gcra',
  );
  const slots = buildPolicy(
    'slots',
    {
      tiers: { minute: { limit: 100, windowMs: 60_000 }, inflight: { kind: 'concurrency', limit: 2, leaseMs: 10_000 } },
    },
    'sliding-window',
  );

  beforeAll(async () => {
    server = await startRedis();
    proxy = await startRespProxy(server);
    limiter = await startLimiter({ url: proxy.url });
    // The script is loaded on the socket (EVAL once), so every call below is an EVALSHA.
    await limiter.store.consume({ clientId: 'warm-up', policies: [tight], cost: 1 });
  });

  afterAll(async () => {
    await limiter?.close();
    await proxy?.close();
    await server?.stop();
  });

  /** The rate-limit script calls sent since the last reset (the instance bus's PINGs and SUBSCRIBE aside). */
  const scriptCalls = () => proxy.commands.filter((command) => command.name === 'EVALSHA');
  /** The ARGV of a script call: after the SHA, the key count and the keys. */
  const argvOf = (command: (typeof proxy.commands)[number]) => command.args.slice(2 + Number(command.args[1]));

  beforeEach(() => proxy.reset());

  it('decides one client’s concurrent requests in one EVALSHA, each counted exactly once', async () => {
    const decisions = await Promise.all(
      Array.from({ length: 50 }, () => limiter.store.consume({ clientId: 'ip:192.0.2.1', policies: [tight], cost: 1 })),
    );
    expect(scriptCalls()).toHaveLength(1);
    const admitted = decisions.filter((decision) => decision.allowed);
    expect(admitted).toHaveLength(30);
    // Each admitted request saw the writes of those before it: remaining 29, 28, ... 0, each once.
    expect(admitted.map((decision) => decision.tiers[0].remaining).sort((a, b) => b - a)).toEqual(
      Array.from({ length: 30 }, (_, i) => 29 - i),
    );
    expect(decisions.filter((decision) => !decision.allowed).every((d) => d.tiers[0].retryAfterMs > 0)).toBe(true);
  });

  it('sends each policy’s definition once per call, however many requests use it', async () => {
    const clients = Array.from({ length: 12 }, (_, i) => `user:${i}`);
    const decisions = await Promise.all(
      clients.map((clientId, i) =>
        limiter.store.consume({ clientId, policies: i % 2 ? [tight, wide] : [wide], cost: 1 + (i % 3) }),
      ),
    );
    const [call] = scriptCalls();
    expect(scriptCalls()).toHaveLength(1);
    // ARGV: clock, definition count, then the definitions (tight and wide), then the requests.
    expect(argvOf(call)[1]).toBe('2');
    decisions.forEach((decision, i) => {
      const cost = 1 + (i % 3);
      const byTier = Object.fromEntries(decision.tiers.map((tier) => [`${tier.policy}.${tier.tier}`, tier.remaining]));
      expect(byTier).toEqual({
        ...(i % 2 ? { 'tight.minute': 30 - cost } : {}),
        'wide.second': 100 - cost,
        'wide.hour': 1000 - cost,
      });
    });
  });

  it('takes concurrency slots in the batch as separate calls would: no more than the limit', async () => {
    const decisions = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        limiter.store.consume({ clientId: 'user:slots', policies: [slots], cost: 1, leaseToken: `lease-${i}` }),
      ),
    );
    expect(scriptCalls()).toHaveLength(1);
    expect(decisions.map((decision) => decision.allowed)).toEqual([true, true, false, false, false]);
    await limiter.store.release!('user:slots', [slots], 'lease-0');
    expect(
      (await limiter.store.consume({ clientId: 'user:slots', policies: [slots], cost: 1, leaseToken: 'x' })).allowed,
    ).toBe(true);
  });

  it('fails only the request whose key holds another type; the rest of its call is decided', async () => {
    await limiter.connection.client.set(
      limiter.connection.keys.rateLimit('user:broken', 'tight'),
      'not a hash',
      'EX',
      60,
    );
    proxy.reset();
    const outcomes = await Promise.allSettled([
      limiter.store.consume({ clientId: 'user:fine-1', policies: [tight], cost: 1 }),
      limiter.store.consume({ clientId: 'user:broken', policies: [tight], cost: 1 }),
      limiter.store.consume({ clientId: 'user:fine-2', policies: [tight], cost: 1 }),
    ]);
    expect(scriptCalls()).toHaveLength(1);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const error = (outcomes[1] as PromiseRejectedResult).reason as RedisCommandError;
    expect(error).toBeInstanceOf(RedisCommandError);
    expect(String((error.cause as Error).message)).toContain('WRONGTYPE');
    for (const outcome of [outcomes[0], outcomes[2]]) {
      expect((outcome as PromiseFulfilledResult<RateLimitStoreDecision>).value.tiers[0].remaining).toBe(29);
    }
  });

  it(`caps a call at ${MAX_BATCH} requests`, async () => {
    const count = 2 * MAX_BATCH + 10;
    const decisions = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        limiter.store.consume({ clientId: `cap:${i}`, policies: [tight], cost: 1 }),
      ),
    );
    expect(decisions.every((decision) => decision.allowed && decision.tiers[0].remaining === 29)).toBe(true);
    expect(scriptCalls().map((call) => Number(call.args[1]))).toEqual([MAX_BATCH, MAX_BATCH, 10]);
  });

  it('sends a request whose deadline is more than half spent alone, so it never shortens the others’ budget', async () => {
    // commandTimeoutMs is 2000 (setup.ts): 500 ms left is less than half.
    const short = Deadline.after(500);
    await Promise.all([
      limiter.store.consume({ clientId: 'deadline:a', policies: [tight], cost: 1, deadline: Deadline.after(2000) }),
      limiter.store.consume({ clientId: 'deadline:short', policies: [tight], cost: 1, deadline: short }),
      limiter.store.consume({ clientId: 'deadline:b', policies: [tight], cost: 1 }),
    ]);
    expect(scriptCalls().map((call) => Number(call.args[1]))).toEqual([1, 2]);
  });

  it('sends a request alone in its turn at once: it waits for no other', async () => {
    const decision = await limiter.store.consume({ clientId: 'alone', policies: [tight, wide], cost: 1 });
    expect(decision.allowed).toBe(true);
    expect(scriptCalls()).toHaveLength(1);
    expect(argvOf(scriptCalls()[0])[1]).toBe('2');
  });
});
