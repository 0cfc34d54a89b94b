import { jest } from '@jest/globals';
import { HealthIndicatorService } from '@nestjs/terminus';
import type { ConnectionStatusSource } from '../core/events/shield-status.js';
import { ShieldStatus } from '../core/events/shield-status.js';
import { RedisHealthIndicator } from './redis.health-indicator.js';

type Ping = ConnectionStatusSource['ping'];

function fakeConnection(overrides: Partial<ConnectionStatusSource> = {}, name = 'default') {
  const connection: ConnectionStatusSource = {
    name,
    state: 'ready',
    circuitOpen: false,
    ping: jest.fn<Ping>(async () => 0.4567),
    ...overrides,
  };
  return { connection, ping: connection.ping as jest.Mock<Ping> };
}

function indicatorWith(connections: ConnectionStatusSource[], limiterFailMode?: 'open' | 'closed') {
  const status = new ShieldStatus();
  for (const connection of connections) status.addConnection(connection);
  if (limiterFailMode) status.addLimiter({ connection: 'default', failMode: limiterFailMode, fallbackActive: false });
  return new RedisHealthIndicator(new HealthIndicatorService(), status);
}

const DEGRADED = { status: 'up', redis: 'down', degraded: true, fallback: true, latency_ms: null };
const DOWN = { status: 'down', redis: 'down', latency_ms: null };

describe('RedisHealthIndicator', () => {
  it('is up with the PING latency rounded to 0.01 ms, PINGing with a 1000 ms budget by default', async () => {
    const { connection, ping } = fakeConnection();
    const result = await indicatorWith([connection]).isHealthy();
    expect(result).toEqual({ redis: { status: 'up', redis: 'up', latency_ms: 0.46 } });
    expect(ping).toHaveBeenCalledWith({ timeoutMs: 1000 });
  });

  it('checks the named connection under the given key with the given budget', async () => {
    const cache = fakeConnection({}, 'cache');
    const result = await indicatorWith([fakeConnection().connection, cache.connection]).isHealthy('redis-cache', {
      connection: 'cache',
      timeoutMs: 250,
    });
    expect(result).toEqual({ 'redis-cache': { status: 'up', redis: 'up', latency_ms: 0.46 } });
    expect(cache.ping).toHaveBeenCalledWith({ timeoutMs: 250 });
  });

  it.each([
    ['the state is down', { state: 'down' as const }],
    ['the breaker is open', { circuitOpen: true }],
  ])('answers at once without a PING when %s', async (_, overrides) => {
    const { connection, ping } = fakeConnection(overrides);
    expect(await indicatorWith([connection]).isHealthy()).toEqual({ redis: DEGRADED });
    expect(ping).not.toHaveBeenCalled();
  });

  it('reports a failed PING as Redis down', async () => {
    const ping = jest.fn<Ping>(async () => {
      throw new Error('timeout');
    });
    const { connection } = fakeConnection({ ping });
    expect(await indicatorWith([connection]).isHealthy()).toEqual({ redis: DEGRADED });
  });

  it('follows the fail mode of the rate limiter on the connection, unless told otherwise', async () => {
    const { connection } = fakeConnection({ state: 'down' });
    expect(await indicatorWith([connection], 'closed').isHealthy()).toEqual({ redis: DOWN });
    expect(await indicatorWith([connection], 'closed').isHealthy('redis', { failMode: 'open' })).toEqual({
      redis: DEGRADED,
    });
    expect(await indicatorWith([connection], 'open').isHealthy('redis', { failMode: 'closed' })).toEqual({
      redis: DOWN,
    });
  });

  it('refuses an unknown connection, naming it and the registered ones', async () => {
    const indicator = indicatorWith([fakeConnection().connection]);
    await expect(indicator.isHealthy('redis', { connection: 'cache' })).rejects.toThrow(
      "unknown Redis connection 'cache' (registered: 'default')",
    );
    await expect(indicatorWith([]).isHealthy()).rejects.toThrow(/'default'.*is RedisModule.forRoot imported\?/);
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])('refuses timeoutMs=%p', async (timeoutMs) => {
    await expect(indicatorWith([fakeConnection().connection]).isHealthy('redis', { timeoutMs })).rejects.toThrow(
      /invalid option timeoutMs=/,
    );
  });

  it('refuses an unknown failMode', async () => {
    const options = { failMode: 'half' as 'open' };
    await expect(indicatorWith([fakeConnection().connection]).isHealthy('redis', options)).rejects.toThrow(
      'invalid option failMode="half": expected open or closed',
    );
  });
});
