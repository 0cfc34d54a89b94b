import { type INestApplication, Module, type Provider, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { WsAdapter } from '@nestjs/platform-ws';
import { type OnGatewayConnection, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import { io, type Socket as IoSocket } from 'socket.io-client';
import WebSocket from 'ws';
import {
  RateLimit,
  RateLimitGuard,
  RateLimitModule,
  type RateLimitModuleOptions,
  RedisModule,
  ShieldEvents,
  SkipRateLimit,
} from 'nestjs-redis-shield';
import { createApp, type HttpAdapterName } from '../src/app.factory.js';
import { loadConfig } from '../src/config/load-config.js';
import { WS_PINGS_PER_10_SECONDS } from '../src/rate-limit.config.js';
import { type RedisServer, startRedis } from './harness/index.js';

// @RateLimit on WebSocket gateways and @SubscribeMessage handlers, on both platforms
// (@nestjs/platform-ws and @nestjs/platform-socket.io), against a real redis-server: a
// rejected message is answered with the 429 body as the `exception` event and the socket
// stays open, unless `websocket.closeAfterRejections` closes it.

type Platform = 'ws' | 'socket.io';

/** The 429 body as a rejected message receives it. */
const REJECTION = {
  error: 'Rate limit exceeded',
  message: 'Too many requests. Please try again later.',
  reset_time: expect.any(Number),
  retry_after: expect.any(Number),
};

/** Who a socket says it is: `?user=` on ws, the handshake's `auth.user` on socket.io. */
function handshakeUser(client: unknown, request: IncomingMessage | undefined): string | undefined {
  const auth = (client as { handshake?: { auth?: { user?: unknown } } }).handshake?.auth;
  if (auth) return typeof auth.user === 'string' ? auth.user : undefined;
  return new URL(request?.url ?? '/', 'http://localhost').searchParams.get('user') ?? undefined;
}

/** Where a gateway listens: a socket.io namespace, or a ws path (ws has no namespaces). */
function at(platform: Platform, name: string): { namespace: string } | { path: string } {
  return platform === 'ws' ? { path: `/${name}` } : { namespace: name };
}

/**
 * The test gateways of a platform. `chat`: `ping` 3 per minute (policy `ping`, the
 * handler's), `tick` 2 per second, `echo` 2 per minute (policy `chat`, the class's), `free` exempt; the user goes where the README says,
 * `client.data.user`, at connection. `guarded`: the guard applied with `@UseGuards`, as
 * the README says for `guard: false`.
 */
function gateways(platform: Platform): [object, object] {
  @WebSocketGateway(at(platform, 'chat'))
  @RateLimit('chat')
  class ChatGateway implements OnGatewayConnection {
    handleConnection(client: { data?: unknown }, request?: IncomingMessage): void {
      const user = handshakeUser(client, request);
      if (user) client.data = { ...(client.data as object), user: { id: user } };
    }

    @SubscribeMessage('ping')
    @RateLimit('ping')
    ping() {
      return { event: 'pong', data: 'ping' };
    }

    @SubscribeMessage('tick')
    @RateLimit('tick')
    tick() {
      return { event: 'pong', data: 'tick' };
    }

    @SubscribeMessage('echo')
    echo() {
      return { event: 'pong', data: 'echo' };
    }

    @SubscribeMessage('free')
    @SkipRateLimit()
    free() {
      return { event: 'pong', data: 'free' };
    }
  }

  @WebSocketGateway(at(platform, 'guarded'))
  @UseGuards(RateLimitGuard)
  class GuardedGateway {
    @SubscribeMessage('ping')
    @RateLimit('ping')
    ping() {
      return { event: 'pong', data: 'ping' };
    }

    /** No `@RateLimit` here or on the gateway: not limited, whatever the default policy says. */
    @SubscribeMessage('plain')
    plain() {
      return { event: 'pong', data: 'plain' };
    }
  }
  return [ChatGateway, GuardedGateway];
}

interface AppOptions {
  platform: Platform;
  redisUrl: string;
  limits?: Partial<RateLimitModuleOptions>;
  /** RateLimitModule's `guard` extra (global guard). Default true. */
  globalGuard?: boolean;
  trustProxy?: boolean;
  /** The HTTP adapter. Default express. */
  http?: HttpAdapterName;
}

async function startApp(options: AppOptions): Promise<INestApplication> {
  @Module({
    imports: [
      RedisModule.forRoot({ url: options.redisUrl, hashSecret: 'websocket-e2e', commandTimeoutMs: 2000 }),
      RateLimitModule.forRoot({
        // One message a minute: a handler limited by the default policy would show at once.
        defaultTiers: { minute: { limit: 1, windowMs: 60_000 } },
        policies: {
          chat: { tiers: { minute: { limit: 2, windowMs: 60_000 } } },
          ping: { tiers: { minute: { limit: 3, windowMs: 60_000 } } },
          tick: { tiers: { second: { limit: 2, windowMs: 1000 } } },
        },
        // Each test starts from an empty Redis; a local block would outlive it.
        localBlockCache: false,
        ...options.limits,
        guard: options.globalGuard ?? true,
      }),
    ],
    providers: gateways(options.platform) as Provider[],
  })
  class WebSocketAppModule {}

  const trust = options.trustProxy ? 'loopback' : false;
  const http = options.http === 'fastify' ? new FastifyAdapter({ trustProxy: trust }) : new ExpressAdapter();
  const app = await NestFactory.create<INestApplication>(WebSocketAppModule, http, {
    logger: false,
    abortOnError: false,
  });
  if (options.http !== 'fastify') (app as NestExpressApplication).set('trust proxy', trust);
  app.useWebSocketAdapter(options.platform === 'ws' ? new WsAdapter(app) : new IoAdapter(app));
  await app.listen(0, '127.0.0.1');
  return app;
}

/** A message the server sent: its event and data. */
interface Received {
  event: string;
  data: unknown;
}

/** A connected test client on either platform, with its received messages in order. */
interface TestClient {
  send(event: string): void;
  /** The next message not yet taken. */
  next(): Promise<Received>;
  /** Resolves when the server closed the connection. */
  closed: Promise<void>;
  close(): void;
}

interface ConnectOptions {
  gateway?: 'chat' | 'guarded';
  user?: string;
  /** Loopback address the client binds to (127.0.0.2 is another anonymous client). */
  localAddress?: string;
  forwardedFor?: string;
}

/** Queues what arrives, hands it out in order. */
function inbox(): { push(message: Received): void; next(): Promise<Received> } {
  const queue: Received[] = [];
  const waiting: ((message: Received) => void)[] = [];
  return {
    push: (message) => (waiting.length ? waiting.shift()!(message) : queue.push(message)),
    next: () =>
      queue.length
        ? Promise.resolve(queue.shift()!)
        : new Promise<Received>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error('no message within 5 s')), 5000);
            waiting.push((message) => {
              clearTimeout(timer);
              resolve(message);
            });
          }),
  };
}

async function connect(platform: Platform, url: string, options: ConnectOptions = {}): Promise<TestClient> {
  const gateway = options.gateway ?? 'chat';
  const received = inbox();
  const headers = options.forwardedFor ? { 'x-forwarded-for': options.forwardedFor } : undefined;
  if (platform === 'ws') {
    const query = options.user ? `?user=${encodeURIComponent(options.user)}` : '';
    const socket = new WebSocket(`${url.replace('http', 'ws')}/${gateway}${query}`, {
      localAddress: options.localAddress,
      headers,
    });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('message', (raw) => received.push(JSON.parse(String(raw)) as Received));
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return {
      send: (event) => socket.send(JSON.stringify({ event, data: {} })),
      next: received.next,
      closed,
      close: () => socket.close(),
    };
  }
  const socket: IoSocket = io(`${url}/${gateway}`, {
    transports: ['websocket'],
    auth: options.user ? { user: options.user } : {},
    localAddress: options.localAddress,
    extraHeaders: headers,
    reconnection: false,
  } as Parameters<typeof io>[1]);
  const closed = new Promise<void>((resolve) => socket.once('disconnect', () => resolve()));
  socket.onAny((event: string, data: unknown) => received.push({ event, data }));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return { send: (event) => socket.emit(event, {}), next: received.next, closed, close: () => socket.disconnect() };
}

/** `promise`, or a rejection naming what did not happen within `ms`. */
async function within<T>(promise: Promise<T>, ms: number, failure: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(failure)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Sends `event` `times` times, one after the other's answer; the answers in order. */
async function exchange(client: TestClient, event: string, times: number): Promise<Received[]> {
  const answers: Received[] = [];
  for (let i = 0; i < times; i++) {
    client.send(event);
    answers.push(await client.next());
  }
  return answers;
}

const PONG = (data: string): Received => ({ event: 'pong', data });
const REJECTED: Received = { event: 'exception', data: REJECTION } as Received;

describe.each<Platform>(['ws', 'socket.io'])('WebSocket rate limits on %s', (platform) => {
  let redis: RedisServer;
  let app: INestApplication | undefined;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    redis = await startRedis();
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await app?.close();
    app = undefined;
    await redis.command('FLUSHALL');
  });

  afterAll(async () => {
    await redis?.stop();
  });

  async function open(options: ConnectOptions = {}): Promise<TestClient> {
    const client = await connect(platform, await app!.getUrl(), options);
    clients.push(client);
    return client;
  }

  it('admits the limit, then answers the 429 body as the exception event; the socket stays open', async () => {
    app = await startApp({ platform, redisUrl: redis.url });
    const decisions: { route: string | undefined; allowed: boolean }[] = [];
    app
      .get(ShieldEvents)
      .on('ratelimit.decision', ({ route, result }) => decisions.push({ route, allowed: result.allowed }));
    const client = await open();

    expect(await exchange(client, 'ping', 5)).toEqual([PONG('ping'), PONG('ping'), PONG('ping'), REJECTED, REJECTED]);
    // Unlimited handlers keep working on the same socket, and nothing closed it.
    expect(await exchange(client, 'free', 4)).toEqual(Array.from({ length: 4 }, () => PONG('free')));
    // The class's policy applies where the handler names none.
    expect(await exchange(client, 'echo', 3)).toEqual([PONG('echo'), PONG('echo'), REJECTED]);
    // Reported under the gateway's route, as HTTP decisions are (metrics, violations).
    expect(decisions.filter((d) => d.route === 'ws:/chat:ping').map((d) => d.allowed)).toEqual([
      true,
      true,
      true,
      false,
      false,
    ]);
  });

  it('admits messages again once the window passed, on the same socket', async () => {
    app = await startApp({ platform, redisUrl: redis.url });
    const client = await open();
    // Until the first rejection (a window may turn over on the way).
    let answer: Received | undefined;
    for (let sent = 0; sent < 10 && answer?.event !== 'exception'; sent++) [answer] = await exchange(client, 'tick', 1);
    expect(answer).toEqual(REJECTED);
    const wait = (answer!.data as { retry_after: number }).retry_after;
    expect(wait).toBeGreaterThanOrEqual(1);
    await new Promise((resolve) => setTimeout(resolve, wait * 1000 + 50));
    expect(await exchange(client, 'tick', 1)).toEqual([PONG('tick')]);
  });

  it('closes a socket at its N-th rejection with websocket.closeAfterRejections, after sending it', async () => {
    app = await startApp({ platform, redisUrl: redis.url, limits: { websocket: { closeAfterRejections: 2 } } });
    const client = await open();
    let closed = false;
    void client.closed.then(() => (closed = true));
    expect(await exchange(client, 'ping', 4)).toEqual([PONG('ping'), PONG('ping'), PONG('ping'), REJECTED]);
    expect(closed).toBe(false);
    expect(await exchange(client, 'ping', 1)).toEqual([REJECTED]);
    await within(client.closed, 5000, 'the socket stayed open');
  });

  it('two sockets of one user (from the handshake) share the limit; other users and addresses do not', async () => {
    app = await startApp({ platform, redisUrl: redis.url });
    const first = await open({ user: 'alice' });
    const second = await open({ user: 'alice', localAddress: '127.0.0.2' });
    expect(await exchange(first, 'ping', 2)).toEqual([PONG('ping'), PONG('ping')]);
    expect(await exchange(second, 'ping', 2)).toEqual([PONG('ping'), REJECTED]);
    // Another user on the first socket's address has a bucket of its own.
    const bob = await open({ user: 'bob' });
    expect(await exchange(bob, 'ping', 1)).toEqual([PONG('ping')]);
  });

  it('keys anonymous sockets by their address: two addresses, two buckets', async () => {
    app = await startApp({ platform, redisUrl: redis.url });
    const first = await open();
    const sameAddress = await open();
    const other = await open({ localAddress: '127.0.0.2' });
    expect(await exchange(first, 'ping', 2)).toEqual([PONG('ping'), PONG('ping')]);
    expect(await exchange(sameAddress, 'ping', 2)).toEqual([PONG('ping'), REJECTED]);
    expect(await exchange(other, 'ping', 3)).toEqual([PONG('ping'), PONG('ping'), PONG('ping')]);
  });

  it.each<HttpAdapterName>(['express', 'fastify'])(
    'believes X-Forwarded-For of the handshake only where the HTTP adapter (%s) trusts the proxy',
    async (http) => {
      app = await startApp({ platform, redisUrl: redis.url, http });
      // Not trusted: two forged addresses from one peer share its bucket.
      const forged = await open({ forwardedFor: '203.0.113.1' });
      const forgedAgain = await open({ forwardedFor: '203.0.113.2' });
      expect(await exchange(forged, 'ping', 3)).toEqual([PONG('ping'), PONG('ping'), PONG('ping')]);
      expect(await exchange(forgedAgain, 'ping', 1)).toEqual([REJECTED]);
      await app.close();

      app = await startApp({ platform, redisUrl: redis.url, http, trustProxy: true });
      // Trusted (a loopback proxy): each forwarded client has its bucket.
      const proxied = await open({ forwardedFor: '203.0.113.3' });
      const proxiedOther = await open({ forwardedFor: '203.0.113.4' });
      expect(await exchange(proxied, 'ping', 3)).toEqual([PONG('ping'), PONG('ping'), PONG('ping')]);
      expect(await exchange(proxiedOther, 'ping', 1)).toEqual([PONG('ping')]);
    },
  );

  it('exempts allowlisted addresses', async () => {
    app = await startApp({ platform, redisUrl: redis.url, limits: { allowlist: ['127.0.0.2'] } });
    const allowed = await open({ localAddress: '127.0.0.2' });
    expect(await exchange(allowed, 'ping', 5)).toEqual(Array.from({ length: 5 }, () => PONG('ping')));
    const limited = await open();
    expect(await exchange(limited, 'ping', 4)).toEqual([PONG('ping'), PONG('ping'), PONG('ping'), REJECTED]);
  });

  it('answers the 503 body in closed mode while Redis is unavailable, and keeps the socket', async () => {
    app = await startApp({ platform, redisUrl: 'redis://127.0.0.1:1', limits: { failMode: 'closed' } });
    const client = await open();
    const unavailable = { event: 'exception', data: { error: 'Service unavailable', message: expect.any(String) } };
    expect(await exchange(client, 'ping', 2)).toEqual([unavailable, unavailable]);
    expect(await exchange(client, 'free', 1)).toEqual([PONG('free')]);
  });

  it('limits with guard: false and @UseGuards(RateLimitGuard) on the gateway, counting a message once', async () => {
    app = await startApp({ platform, redisUrl: redis.url, globalGuard: false });
    const guarded = await open({ gateway: 'guarded' });
    expect(await exchange(guarded, 'ping', 4)).toEqual([PONG('ping'), PONG('ping'), PONG('ping'), REJECTED]);
    // A handler without @RateLimit (nor on its gateway) is not limited: limits on messages are opt-in.
    expect(await exchange(guarded, 'plain', 3)).toEqual(Array.from({ length: 3 }, () => PONG('plain')));
    // Without the global guard, a gateway without @UseGuards is not limited.
    const chat = await open();
    expect(await exchange(chat, 'ping', 4)).toEqual(Array.from({ length: 4 }, () => PONG('ping')));
    await app.close();
    await redis.command('FLUSHALL');

    // With the global guard too, the gateway's guard runs twice per message, which counts once.
    app = await startApp({ platform, redisUrl: redis.url });
    const twice = await open({ gateway: 'guarded' });
    expect(await exchange(twice, 'ping', 4)).toEqual([PONG('ping'), PONG('ping'), PONG('ping'), REJECTED]);
  });
});

describe.each<HttpAdapterName>(['express', 'fastify'])("the demo's /ws gateway on %s", (adapter) => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await startRedis();
  });

  afterAll(async () => {
    await redis?.stop();
  });

  it('answers ping with pong up to the ws-ping policy, then the 429 body, on a socket that stays open', async () => {
    const result = loadConfig({
      REDIS_URL: redis.url,
      JWT_SECRET: 'websocket-jwt-secret-0123456789abcdef0123456789',
      IP_HASH_SECRET: 'websocket-ip-hash-secret-0123456789abcdef01',
    });
    if (!result.ok) throw new Error(result.errors.join('\n'));
    const app = await createApp(result.config, { logger: false, adapter });
    await app.listen(0, '127.0.0.1');
    const socket = new WebSocket(`${(await app.getUrl()).replace('http', 'ws')}/ws`);
    try {
      const received = inbox();
      socket.on('message', (raw) => received.push(JSON.parse(String(raw)) as Received));
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('error', reject);
      });
      const answers: Received[] = [];
      for (let i = 0; i <= WS_PINGS_PER_10_SECONDS; i++) {
        socket.send(JSON.stringify({ event: 'ping' }));
        answers.push(await received.next());
      }
      expect(answers.slice(0, -1)).toEqual(
        Array.from({ length: WS_PINGS_PER_10_SECONDS }, () => ({
          event: 'pong',
          data: { generated_at: expect.any(String) },
        })),
      );
      expect(answers.at(-1)).toEqual(REJECTED);
      expect(socket.readyState).toBe(WebSocket.OPEN);
    } finally {
      socket.close();
      await app.close();
    }
  });
});
