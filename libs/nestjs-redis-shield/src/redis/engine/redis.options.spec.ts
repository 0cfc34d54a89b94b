import { shieldErrorCode } from '../../core/errors.js';
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

  it.each([
    [{ clusterNodes: [{ host: 'h', port: 70000 }] }, 'clusterNodes[0].port=70000: expected an integer from 1 to 65535'],
    [{ sentinels: [{ host: '', port: 1 }], sentinelName: 'm' }, 'sentinels[0].host="": expected a non-empty host name'],
    [{ maxReconnectDelayMs: 1.5 }, 'maxReconnectDelayMs=1.5: expected a positive integer'],
    [{ bus: { staleAfterMs: 50 } }, 'bus.staleAfterMs=50: expected an integer >= 100'],
  ])('names the option, the value and what is allowed, with code SHIELD_E001: %j', (options, message) => {
    let error: unknown;
    try {
      resolveRedisOptions(options);
    } catch (caught) {
      error = caught;
    }
    expect((error as Error).message).toContain(message);
    expect(shieldErrorCode(error)).toBe('SHIELD_E001');
  });

  it('gives conflicting options code SHIELD_E002', () => {
    expect(() => resolveRedisOptions({ client: {} as never, url: 'redis://h' })).toThrow(
      expect.objectContaining({ code: 'SHIELD_E002' }) as never,
    );
  });
});
