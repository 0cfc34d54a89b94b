import { Controller, Get, type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { FastifyInstance } from 'fastify';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type RateLimitDecisionEvent,
  RateLimitModule,
  type RateLimitModuleOptions,
  RedisConnection,
  RedisModule,
  ShieldEvents,
} from 'nestjs-redis-shield';
import request from 'supertest';
import { createApp, type HttpAdapterName } from '../src/app.factory.js';
import { loadConfig } from '../src/config/load-config.js';
import { type RedisServer, startRedis } from './harness/index.js';
import { CaptureLogger } from './support/capture-logger.js';
import { waitFor } from './support/wait-for.js';

/** The proxy-trust warning, on either adapter. */
const TRUSTS_EVERY_PEER =
  /^The HTTP adapter's (trust proxy|trustProxy) setting trusts X-Forwarded-For from every address/;
/** The Unix-socket warning. */
const UNIX_SOCKET = /^The HTTP server listens on a Unix socket and (trust proxy|trustProxy) trusts no proxy header/;

@Controller('thing')
class ThingController {
  @Get()
  get() {
    return { ok: true };
  }
}

/** What an adapter trusts, in each adapter's own terms. */
type Trust = 'none' | 'everything' | 'first-hop' | 'loopback';

interface ClientsApp {
  app: INestApplication;
  logger: CaptureLogger;
  decisions: RateLimitDecisionEvent[];
}

/**
 * A one-route app limited to 5 per minute. Requests to `/thing?close` have their socket
 * destroyed before the guard runs, as when the client hung up.
 */
async function startClientsApp(
  adapterName: HttpAdapterName,
  redisUrl: string,
  trust: Trust,
  listenOn: number | string = 0,
  limits: Partial<RateLimitModuleOptions> = {},
): Promise<ClientsApp> {
  @Module({
    imports: [
      RedisModule.forRoot({ url: redisUrl, hashSecret: 'clients-e2e', commandTimeoutMs: 2000 }),
      RateLimitModule.forRoot({
        defaultTiers: { minute: { limit: 5, windowMs: 60_000 } },
        localBlockCache: false,
        ...limits,
      }),
    ],
    controllers: [ThingController],
  })
  class ClientsAppModule {}

  const fastifyTrust = {
    none: false,
    everything: true,
    // Fastify 5 refuses hop counts (they would trust any direct client): a function of the hop.
    'first-hop': (_address: string, hop: number) => hop < 1,
    loopback: 'loopback',
  }[trust];
  const adapter =
    adapterName === 'fastify' ? new FastifyAdapter({ trustProxy: fastifyTrust as boolean }) : new ExpressAdapter();
  const logger = new CaptureLogger();
  const app = await NestFactory.create(ClientsAppModule, adapter, { logger, abortOnError: false });
  if (adapterName === 'express') {
    const expressTrust = { none: false, everything: true, 'first-hop': 1, loopback: 'loopback' }[trust];
    (app as NestExpressApplication).set('trust proxy', expressTrust);
  }
  // Before anything reads the socket's address: on Fastify a hook of its own, since the
  // middleware runner (middie) copies `request.ip` onto the Node request before middleware runs.
  if (adapterName === 'fastify') {
    (app.getHttpAdapter().getInstance() as FastifyInstance).addHook('onRequest', (request, _reply, done) => {
      if (request.raw.url?.includes('close')) request.raw.socket.destroy();
      done();
    });
  } else {
    app.use((req: http.IncomingMessage, _res: http.ServerResponse, next: () => void) => {
      if (req.url?.includes('close')) req.socket.destroy();
      next();
    });
  }
  const decisions: RateLimitDecisionEvent[] = [];
  app.get(ShieldEvents).on('ratelimit.decision', (event) => decisions.push(event));
  if (typeof listenOn === 'string') await app.listen(listenOn);
  else await app.listen(listenOn, '127.0.0.1');
  return { app, logger, decisions };
}

/** The warnings the rate-limit guard logged. */
const warnings = (logger: CaptureLogger) =>
  logger
    .of('RateLimit')
    .filter((line) => line.level === 'warn')
    .map((line) => line.message);

/** Sends a GET and resolves once the client saw its end: a response, or the connection dropped. */
function getOnce(options: http.RequestOptions): Promise<{ status?: number; headers?: http.IncomingHttpHeaders }> {
  return new Promise((resolve) => {
    const req = http.get(options, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode, headers: response.headers }));
    });
    req.on('error', () => resolve({}));
  });
}

let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.stop();
});

describe.each<HttpAdapterName>(['express', 'fastify'])('client addresses on %s', (adapter) => {
  beforeEach(async () => {
    await redis.command('FLUSHALL');
  });

  describe('a request whose connection closed before the guard ran', () => {
    let clients: ClientsApp;
    let url: string;

    beforeAll(async () => {
      clients = await startClientsApp(adapter, redis.url, 'none');
      url = await clients.app.getUrl();
    });

    afterAll(async () => {
      await clients?.app.close();
    });

    it('is keyed by the address its connection came from, not by the shared ip:unknown', async () => {
      const { port } = new URL(url);
      const closed = await getOnce({ host: '127.0.0.1', port, path: '/thing?close' });
      expect(closed.status).toBeUndefined();
      await waitFor(() => clients.decisions.length === 1, 5000, 'the decision on the closed request');
      expect(clients.decisions[0].clientId).toBe('ip:127.0.0.1');

      // Counted in 127.0.0.1's own bucket: the next request from there has 3 of 5 left.
      const keys = clients.app.get(RedisConnection).keys;
      expect(await redis.command('EXISTS', keys.rateLimit('ip:127.0.0.1', 'default'))).toBe(1);
      expect(await redis.command('EXISTS', keys.rateLimit('ip:unknown', 'default'))).toBe(0);
      const next = await request(url).get('/thing');
      expect(next.status).toBe(200);
      expect(next.headers['x-ratelimit-remaining']).toBe('3');
      expect(clients.decisions.map((decision) => decision.clientId)).toEqual(['ip:127.0.0.1', 'ip:127.0.0.1']);
      expect(warnings(clients.logger)).toEqual([]);
    });
  });

  it('keys a client id of kilobytes by its digest, and two that differ past 256 characters apart', async () => {
    // Custom ids from a header, as an API-key scheme would read them.
    const clients = await startClientsApp(adapter, redis.url, 'none', 0, {
      clientId: (_context, exchange) => exchange.header('x-api-key'),
    });
    try {
      const url = await clients.app.getUrl();
      const long = 'k'.repeat(8000);
      const remaining = async (key: string) =>
        (await request(url).get('/thing').set('X-API-Key', key)).headers['x-ratelimit-remaining'];
      expect(await remaining(`${long}a`)).toBe('4');
      expect(await remaining(`${long}a`)).toBe('3');
      expect(await remaining(`${long}b`)).toBe('4');
      const ids = clients.decisions.map((decision) => decision.clientId);
      expect(ids.every((id) => /^sha256:[\w-]{43}$/.test(id))).toBe(true);
      expect(new Set(ids).size).toBe(2);
      // A short id is kept as given.
      expect(await remaining('key-1')).toBe('4');
      expect(clients.decisions.at(-1)?.clientId).toBe('key-1');
    } finally {
      await clients.app.close();
    }
  });

  describe('proxy trust at start-up', () => {
    it.each<Trust>(['everything'])('warns once when the adapter trusts %s', async (trust) => {
      const { app, logger } = await startClientsApp(adapter, redis.url, trust);
      try {
        const lines = warnings(logger);
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(TRUSTS_EVERY_PEER);
        expect(lines[0]).toContain(adapter === 'express' ? 'Set trust proxy to ' : 'Set trustProxy to ');
        expect(lines[0]).toMatch(/hop/);
        expect(lines[0]).toContain("the proxies' addresses");
        // Said at start-up, not again per request.
        await request(await app.getUrl())
          .get('/thing')
          .set('X-Forwarded-For', '198.51.100.1');
        expect(warnings(logger)).toHaveLength(1);
      } finally {
        await app.close();
      }
    });

    it.each<Trust>(['none', 'first-hop', 'loopback'])('says nothing when it trusts %s', async (trust) => {
      const { app, logger } = await startClientsApp(adapter, redis.url, trust);
      try {
        expect(warnings(logger)).toEqual([]);
      } finally {
        await app.close();
      }
    });

    it.each([
      ['true', true],
      ['1', false],
      ['loopback', false],
    ])('the demo with TRUST_PROXY=%s warns: %p', async (value, warned) => {
      const result = loadConfig({ REDIS_URL: redis.url, TRUST_PROXY: value });
      if (!result.ok) throw new Error(result.errors.join('\n'));
      const logger = new CaptureLogger();
      const app = await createApp(result.config, { logger, adapter });
      try {
        await app.listen(0, '127.0.0.1');
        expect(warnings(logger).filter((line) => TRUSTS_EVERY_PEER.test(line))).toHaveLength(warned ? 1 : 0);
      } finally {
        await app.close();
      }
    });
  });

  describe('on a Unix socket', () => {
    const socketPath = () => join(tmpdir(), `shield-clients-${process.pid}-${randomBytes(4).toString('hex')}.sock`);

    it('warns once that clients cannot be told apart when no proxy header is trusted', async () => {
      const path = socketPath();
      const { app, logger, decisions } = await startClientsApp(adapter, redis.url, 'loopback', path);
      try {
        expect(warnings(logger)).toHaveLength(1);
        expect(warnings(logger)[0]).toMatch(UNIX_SOCKET);
        expect(warnings(logger)[0]).toContain('all anonymous requests share one rate-limit bucket');
        // As warned: requests over the socket have no address.
        const response = await getOnce({ socketPath: path, path: '/thing', headers: { 'X-Forwarded-For': '1.2.3.4' } });
        expect(response.status).toBe(200);
        expect(decisions.map((decision) => decision.clientId)).toEqual(['ip:unknown']);
      } finally {
        await app.close();
        rmSync(path, { force: true });
      }
    });

    it('says nothing when the adapter trusts the proxy in front of the socket, whose header then keys clients', async () => {
      const path = socketPath();
      const { app, logger, decisions } = await startClientsApp(adapter, redis.url, 'first-hop', path);
      try {
        const response = await getOnce({ socketPath: path, path: '/thing', headers: { 'X-Forwarded-For': '1.2.3.4' } });
        expect(response.status).toBe(200);
        expect(decisions.map((decision) => decision.clientId)).toEqual(['ip:1.2.3.4']);
        expect(warnings(logger)).toEqual([]);
      } finally {
        await app.close();
        rmSync(path, { force: true });
      }
    });
  });
});
