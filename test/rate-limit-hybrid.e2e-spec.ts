import { jest } from '@jest/globals';
import { Controller, type ExecutionContext, Get, type INestApplication } from '@nestjs/common';
import { ClientProxyFactory, type ClientProxy, MessagePattern, Payload, Transport } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import {
  CacheTtl,
  RateLimitGuard,
  RateLimitModule,
  RedisConnection,
  RedisModule,
  ResponseCacheModule,
} from 'nestjs-redis-shield';
import { firstValueFrom } from 'rxjs';
import request from 'supertest';
import {
  freePort,
  LOOPBACK,
  type RecordedCommand,
  type RedisServer,
  type RespProxy,
  startRedis,
  startRespProxy,
} from './harness/index.js';
import { waitFor } from './support/wait-for.js';

// Acceptance: a global guard in an app with a non-HTTP context (a microservice/RPC handler
// in a hybrid app) passes that context through untouched.

const RPC_CALLS = 5;
let sums = 0;

@Controller()
class HybridController {
  @Get('hello')
  hello() {
    return { hello: 'world' };
  }

  // @CacheTtl on an RPC handler: the global cache interceptor must pass it through too.
  @MessagePattern('sum')
  @CacheTtl(60)
  sum(@Payload() numbers: number[]): number {
    sums += 1;
    return numbers.reduce((total, n) => total + n, 0);
  }
}

const isScriptCall = (command: RecordedCommand) => command.name === 'EVALSHA' || command.name === 'EVAL';

describe('global RateLimitGuard in a hybrid (HTTP + TCP microservice) app', () => {
  let server: RedisServer;
  let proxy: RespProxy;
  let app: INestApplication;
  let client: ClientProxy;
  let url: string;
  const canActivate = jest.spyOn(RateLimitGuard.prototype, 'canActivate');

  const scriptCalls = () => proxy.commands.filter(isScriptCall).length;

  beforeAll(async () => {
    server = await startRedis();
    proxy = await startRespProxy(server);
    const moduleRef = await Test.createTestingModule({
      imports: [
        RedisModule.forRoot({ url: proxy.url, hashSecret: 'hybrid-e2e-hash-secret-0123456789abcdef' }),
        RateLimitModule.forRoot({ defaultTiers: { burst: { limit: 1, windowMs: 60_000 } } }),
        ResponseCacheModule.forRoot({}),
      ],
      controllers: [HybridController],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    const port = await freePort();
    // inheritAppConfig: the microservice gets the app's global enhancers, the APP_GUARD included,
    // so the guard really sees the RPC context (without it, the guard would never run for RPC).
    app.connectMicroservice(
      { transport: Transport.TCP, options: { host: LOOPBACK, port } },
      { inheritAppConfig: true },
    );
    await app.startAllMicroservices();
    await app.listen(0, LOOPBACK);
    url = await app.getUrl();
    client = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: LOOPBACK, port } });
    await client.connect();
    await waitFor(() => app.get(RedisConnection).state === 'ready', 5000, 'the Redis connection');
  });

  afterAll(async () => {
    canActivate.mockRestore();
    await client?.close();
    await app?.close();
    await proxy?.close();
    await server?.stop();
  });

  it('limits the HTTP route (limit 1: the second request is 429), counting in Redis', async () => {
    const before = scriptCalls();
    await request(url).get('/hello').expect(200).expect('X-RateLimit-Limit', '1');
    const rejected = await request(url).get('/hello').expect(429);
    expect(rejected.body).toMatchObject({ error: 'Rate limit exceeded' });
    expect(scriptCalls()).toBe(before + 2);
  });

  it('passes RPC calls through: the handler answers every time and no rate-limit script runs', async () => {
    // The first test's 429 reaches the violation stream by a flush up to a second later (one
    // more script call, one more key): let it land first, so that this test counts only its own.
    const stream = app.get(RedisConnection).keys.violations();
    await waitFor(
      async () => (await server.command('EXISTS', stream)) === 1,
      5000,
      "the first test's violation in the stream",
    );
    canActivate.mockClear();
    sums = 0;
    const scriptsBefore = scriptCalls();
    const keysBefore = await server.command('DBSIZE');

    for (let i = 1; i <= RPC_CALLS; i++) {
      const numbers = [i, 10, 100];
      await expect(firstValueFrom(client.send<number, number[]>('sum', numbers))).resolves.toBe(i + 110);
    }

    // The global guard did run for each call, saw an RPC context and let it through.
    expect(canActivate).toHaveBeenCalledTimes(RPC_CALLS);
    for (const [context] of canActivate.mock.calls) expect((context as ExecutionContext).getType()).toBe('rpc');
    for (const result of canActivate.mock.results) await expect(result.value).resolves.toBe(true);
    // The cache interceptor ran the handler every time (an RPC reply is never cached) ...
    expect(sums).toBe(RPC_CALLS);
    // ... and nothing counted or stored: no script call reached Redis and no key was written.
    expect(scriptCalls()).toBe(scriptsBefore);
    expect(await server.command('DBSIZE')).toBe(keysBefore);

    // HTTP stays limited after the RPC traffic.
    await request(url).get('/hello').expect(429);
  });
});
