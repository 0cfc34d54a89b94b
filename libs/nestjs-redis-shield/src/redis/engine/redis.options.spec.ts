import { resolveRedisOptions } from './redis.options.js';

describe('resolveRedisOptions', () => {
  it('applies defaults', () => {
    const resolved = resolveRedisOptions({});
    expect(resolved).toMatchObject({
      keyPrefix: '',
      commandTimeoutMs: 100,
      breaker: { failureThreshold: 3, failureWindowMs: 1000, probeIntervalMs: 1000 },
      maxReconnectDelayMs: 2000,
      usesDevSecret: true,
    });
    expect(resolved.url.toString()).toBe('redis://localhost:6379');
    expect(resolved.clock.source).toBe('redis');
  });

  it.each([
    [{ url: 'http://x' }, /url="http:\/\/x\/": expected a redis:\/\/ or rediss:\/\/ URL/],
    [{ url: 'redis://:pw@x:1/abc' }, /url="redis:\/\/:\*\*\*@x:1\/abc": expected a database number/],
    [{ url: 'nope' }, /url="nope"/],
    [{ commandTimeoutMs: 0 }, /commandTimeoutMs=0: expected a positive integer/],
    [{ breaker: { probeIntervalMs: -5 } }, /breaker.probeIntervalMs=-5/],
    [{ sentinels: [{ host: 'h', port: 1 }] }, /sentinelName/],
    [{ sentinels: [], sentinelName: 'm' }, /sentinels=0: expected a non-empty list/],
    [
      { sentinels: [{ host: 'h', port: 1 }], sentinelName: 'm', clusterNodes: [{ host: 'h', port: 2 }] },
      /sentinels and clusterNodes cannot be used together/,
    ],
    [{ clusterNodes: [{ host: 'h', port: 2 }], url: 'redis://h:1/3' }, /database 0 with clusterNodes/],
    [{ clusterNodes: [{ host: 'h', port: 70000 }] }, /clusterNodes/],
  ])('refuses %j', (options, message) => {
    expect(() => resolveRedisOptions(options)).toThrow(message);
  });
});
