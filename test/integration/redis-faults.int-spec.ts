import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  RedisModule,
  RedisService,
  type RedisStateEvent,
  RedisUnavailableError,
  ShieldEvents,
} from 'nestjs-redis-shield';
import { Deadline } from '../../libs/nestjs-redis-shield/src/core/deadline.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { type RedisServer, type RespProxy, startRedis, startRespProxy } from '../harness/index.js';
import { waitFor } from '../support/wait-for.js';

const TIMEOUT_MS = 1000;
const PROBE_INTERVAL_MS = 1000;

/** Runs `call` and returns the error it threw and how long it took, in ms. */
async function timed(call: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  const error = await call().then(
    () => undefined,
    (caught: unknown) => caught,
  );
  return { error, ms: performance.now() - started };
}

describe('Redis faults (REDIS_COMMAND_TIMEOUT_MS=1000)', () => {
  let server: RedisServer;
  let proxy: RespProxy;
  let app: INestApplication;
  let redis: RedisService;
  const logger = new CaptureLogger();
  const states: RedisStateEvent[] = [];

  beforeAll(async () => {
    server = await startRedis();
    proxy = await startRespProxy(server);
    const moduleRef = await Test.createTestingModule({
      imports: [RedisModule.forRoot({ url: proxy.url, hashSecret: 's', commandTimeoutMs: TIMEOUT_MS })],
    }).compile();
    app = moduleRef.createNestApplication({ logger });
    app.get(ShieldEvents).on('redis.state', (event) => states.push(event));
    await app.init();
    redis = app.get(RedisService);
    await waitFor(() => redis.connection.state === 'ready', 5000, 'the connection');
  });

  afterAll(() => {
    // Exactly one event and one log line per change of state, whatever the number of failed calls.
    expect(states.map(({ state }) => state)).toEqual(['ready', 'down', 'ready', 'down', 'ready']);
    const lines = logger.of('Redis:default').map(({ level, message }) => `${level} ${message}`);
    expect(lines).toEqual([
      'log ready (connected)',
      'warn down (circuit open after 3 failures)',
      'log ready (circuit closed)',
      expect.stringMatching(/^warn down \((connection closed|circuit open after 3 failures)\)$/),
      expect.stringMatching(/^log ready \((connected|circuit closed)\)$/),
    ]);
  });

  afterAll(async () => {
    await server?.resume();
    await app?.close();
    await proxy?.close();
    await server?.stop();
  });

  it('timeouts of calls left with a small share of their deadline do not open the breaker', async () => {
    await server.stall();
    try {
      for (let i = 0; i < 5; i++) {
        const result = await timed(() => redis.get('k', { deadline: Deadline.after(TIMEOUT_MS / 4) }));
        expect(result.error).toMatchObject({ reason: 'timeout' });
      }
      expect(redis.connection.state).toBe('ready');
    } finally {
      await server.resume();
    }
  }, 15_000);

  it('a stalled Redis (SIGSTOP): timeouts, then the breaker fails fast and probes once per interval', async () => {
    const increment = redis.defineScript<number>('faults_incr', "return redis.call('INCR', KEYS[1])");
    expect(await increment(['faults:script'], [])).toBe(1);
    await server.stall();

    const first = await timed(() => redis.get('k'));
    expect(first.error).toBeInstanceOf(RedisUnavailableError);
    expect(first.error).toMatchObject({ reason: 'timeout' });
    expect(first.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    expect(first.ms).toBeLessThan(1800);
    for (let i = 0; i < 2; i++) expect((await timed(() => redis.get('k'))).error).toMatchObject({ reason: 'timeout' });

    expect(redis.connection.state).toBe('down');
    proxy.reset();
    const openedAt = Date.now();
    for (let i = 0; i < 20; i++) {
      const fast = await timed(() => redis.set('k', 'v'));
      expect(fast.error).toMatchObject({ reason: 'circuit-open' });
      expect(fast.ms).toBeLessThan(300);
    }

    // While stalled, only probes cross the wire: at most one per interval.
    await new Promise((resolve) => setTimeout(resolve, 3500));
    const sent = proxy.commands.filter((command) => command.at >= openedAt);
    expect(sent.every((command) => command.name === 'PING')).toBe(true);
    expect(sent.length).toBeGreaterThanOrEqual(1);
    expect(sent.length).toBeLessThanOrEqual(Math.floor((Date.now() - openedAt) / PROBE_INTERVAL_MS) + 1);
    for (let i = 1; i < sent.length; i++) {
      expect(sent[i].at - sent[i - 1].at).toBeGreaterThanOrEqual(PROBE_INTERVAL_MS - 50);
    }

    await server.resume();
    await waitFor(() => redis.connection.state === 'ready', 3 * PROBE_INTERVAL_MS, 'the breaker to close');
    await redis.set('after-stall', 'ok', { ttlSeconds: 30 });
    expect(await redis.get('after-stall')).toBe('ok');
    expect(await increment(['faults:script'], [])).toBe(2);
  }, 30_000);

  it('a killed Redis fails fast; restarted empty on the same port, calls and scripts work again', async () => {
    const increment = redis.defineScript<number>('faults_incr', "return redis.call('INCR', KEYS[1])");
    await server.kill();
    for (let i = 0; i < 10; i++) {
      const result = await timed(() => redis.get('k'));
      expect(result.error).toBeInstanceOf(RedisUnavailableError);
      expect(result.ms).toBeLessThan(300);
    }
    await waitFor(() => redis.connection.state === 'down', 1000, 'the state to go down');

    await server.restart();
    await waitFor(() => redis.connection.state === 'ready', 5000, 'reconnection');
    expect(await redis.get('after-stall')).toBeNull(); // the restarted server is empty
    proxy.reset();
    expect(await increment(['faults:script'], [])).toBe(1);
    // The new socket has no scripts loaded: the script travels once in full.
    expect(proxy.names().filter((name) => name === 'EVAL' || name === 'EVALSHA')).toHaveLength(1);
  }, 30_000);
});
