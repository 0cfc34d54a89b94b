import { type RedisServer, type RespProxy, startRedis, startRespProxy } from '../../harness/index.js';
import { type LimiterApp, startLimiter } from './setup.js';

describe('one round trip per decision', () => {
  let server: RedisServer;
  let proxy: RespProxy;
  let limiter: LimiterApp;

  beforeAll(async () => {
    server = await startRedis();
    proxy = await startRespProxy(server);
    limiter = await startLimiter(
      { url: proxy.url },
      {
        policies: {
          completions: {
            tiers: { minute: { limit: 10, windowMs: 60_000 }, day: { limit: 100, windowMs: 86_400_000 } },
          },
          smooth: { algorithm: 'gcra', tiers: { second: { limit: 5, windowMs: 1000 } } },
        },
      },
    );
  });

  /** The connections that subscribed: the instance bus's subscriber, on a socket of its own. */
  const subscribers = new Set<number>();
  function noteSubscribers(): void {
    for (const command of proxy.commands) if (command.name.endsWith('SUBSCRIBE')) subscribers.add(command.connection);
  }
  /** Forgets the commands recorded so far (remembering which connections subscribed). */
  function reset(): void {
    noteSubscribers();
    proxy.reset();
  }
  /**
   * The commands sent since the last {@link reset}, but the subscriber's: its SUBSCRIBE may
   * land at any time after start and its heartbeat PING every second, on no request's path.
   */
  function sent(): string[] {
    noteSubscribers();
    return proxy.commands.filter((command) => !subscribers.has(command.connection)).map((command) => command.name);
  }

  afterAll(async () => {
    await limiter?.close();
    await proxy?.close();
    await server?.stop();
  });

  it('sends exactly one EVALSHA (EVAL the first time on a socket) and nothing else per consume', async () => {
    // Warm up the socket once so the script is loaded, then count.
    await limiter.service.consume('ip:192.0.2.1');
    for (const policies of [['default'], ['default', 'completions'], ['default', 'completions', 'smooth']]) {
      reset();
      for (let i = 0; i < 20; i++) await limiter.service.consume(`ip:192.0.2.${i}`, policies, 1 + (i % 3));
      expect(sent()).toEqual(Array(20).fill('EVALSHA'));
    }
    // status is one command too; reset is one DEL, then one PUBLISH that tells the other instances.
    reset();
    await limiter.service.status('ip:192.0.2.1', ['default', 'completions']);
    await limiter.service.reset('ip:192.0.2.1');
    expect(sent()).toEqual(['EVALSHA', 'DEL', 'PUBLISH']);
  });

  it('charges each policy its own cost (policyCosts) in the same single EVALSHA', async () => {
    const client = 'user:policy-costs';
    reset();
    const result = await limiter.service.consume(client, ['default', 'completions'], 1, {
      policyCosts: { completions: 7 },
    });
    expect(sent()).toEqual(['EVALSHA']);
    expect(Object.fromEntries(result.tiers.map((tier) => [`${tier.policy}.${tier.tier}`, tier.remaining]))).toEqual({
      'default.minute': 59,
      'default.hour': 999,
      'default.burst': 9,
      'completions.minute': 3,
      'completions.day': 93,
    });
    // A cost above a limit: refused for good, nothing counted anywhere.
    const refused = await limiter.service.consume(client, ['default', 'completions'], 1, {
      policyCosts: { completions: 11 },
    });
    expect(refused).toMatchObject({
      allowed: false,
      policy: 'completions',
      tier: 'minute',
      retryAfterMs: Infinity,
      costExceedsLimit: true,
    });
    expect(
      (await limiter.service.status(client, ['default', 'completions'])).tiers.map((tier) => tier.remaining),
    ).toEqual([59, 999, 9, 3, 93]);
    await expect(limiter.service.consume(client, 'default', 1, { policyCosts: { default: -1 } })).rejects.toThrow(
      RangeError,
    );
  });

  it('a script flushed from Redis is reloaded with one EVAL (NOSCRIPT path)', async () => {
    await server.command('SCRIPT', 'FLUSH');
    reset();
    expect((await limiter.service.consume('ip:192.0.2.99')).allowed).toBe(true);
    expect(sent()).toEqual(['EVALSHA', 'EVAL']);
  });

  it('a rejection in the burst tier leaves the minute and hour tiers unchanged', async () => {
    const client = 'user:burst-check';
    for (let i = 0; i < 10; i++) expect((await limiter.service.consume(client)).allowed).toBe(true);
    const before = await limiter.service.status(client);
    for (let i = 0; i < 5; i++) {
      const rejected = await limiter.service.consume(client);
      expect(rejected).toMatchObject({ allowed: false, tier: 'burst' });
    }
    const after = await limiter.service.status(client);
    const remaining = (result: typeof after) =>
      Object.fromEntries(result.tiers.map((tier) => [tier.tier, tier.remaining]));
    expect(remaining(before)).toEqual({ minute: 50, hour: 990, burst: 0 });
    expect(remaining(after)).toEqual(remaining(before));
  });

  it('keys carry a TTL of at most twice their longest window and no raw id', async () => {
    const ids = ['user:ttl-check', 'ip:203.0.113.250'];
    for (const id of ids) await limiter.service.consume(id, ['default', 'completions', 'smooth']);
    const longest = new Map<string, number>(
      limiter.service.policies.all().map((policy) => [policy.name, Math.max(...policy.tiers.map((t) => t.windowMs))]),
    );
    const keys = String(await server.command('KEYS', '*'))
      .split(',')
      .filter(Boolean);
    expect(keys.length).toBeGreaterThanOrEqual(6);
    for (const key of keys) {
      const policy = key.slice(key.lastIndexOf(':') + 1);
      const pttl = Number(await server.command('PTTL', key));
      expect(pttl).toBeGreaterThan(0);
      expect(pttl).toBeLessThanOrEqual(2 * longest.get(policy)!);
      for (const id of ids) expect(key).not.toContain(id.split(':')[1]);
    }
  });

  // The service goes through the guard's limiter: fail mode open (the default) decides in
  // this instance's memory; closed mode throws the typed error (service-limiter.int-spec.ts).
  it('a Redis failure is never a denial: the service counts in memory, as the guard does', async () => {
    await server.kill();
    expect(await limiter.service.consume('user:down')).toMatchObject({ allowed: true, tier: 'burst', remaining: 9 });
    expect((await limiter.service.status('user:down')).remaining).toBe(9);
    await server.restart();
  });
});
