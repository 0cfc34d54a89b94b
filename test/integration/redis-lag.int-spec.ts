import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  type RedisCommandEvent,
  RedisModule,
  RedisService,
  type RedisStateEvent,
  ShieldEvents,
} from 'nestjs-redis-shield';
import { Deadline } from '../../libs/nestjs-redis-shield/src/core/deadline.js';
import { type RedisServer, startRedis } from '../harness/index.js';
import { waitFor } from '../support/wait-for.js';

// The Redis deadline measures Redis, not the process: a blocked event loop (app lag) is
// never a timeout, never evidence for the breaker, never spends a request's budget; a
// stalled Redis still is, even while the loop is blocked.

const TIMEOUT_MS = 200;
/** Longer than the deadline: the loop is blocked for this long in one turn. */
const BLOCK_MS = 300;

/** Iterations of an empty Lua loop: a few ms of Redis time. */
const SPIN = 300_000;

/** Keeps the event loop busy for `ms`: a turn of an overloaded process. */
function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

/** Lets this turn's corked batch of commands reach the socket (the uncork runs in a setImmediate). */
const written = () => new Promise((resolve) => setImmediate(resolve));

describe(`a blocked event loop (commandTimeoutMs=${TIMEOUT_MS})`, () => {
  let server: RedisServer;
  let app: INestApplication;
  let redis: RedisService;
  const states: RedisStateEvent[] = [];
  const commands: RedisCommandEvent[] = [];

  beforeAll(async () => {
    server = await startRedis();
    const moduleRef = await Test.createTestingModule({
      imports: [
        RedisModule.forRoot({
          url: server.url,
          hashSecret: 's',
          commandTimeoutMs: TIMEOUT_MS,
          bus: { enabled: false },
        }),
      ],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    app.get(ShieldEvents).on('redis.state', (event) => states.push(event));
    app.get(ShieldEvents).on('redis.command', (event) => commands.push(event));
    await app.init();
    redis = app.get(RedisService);
    await waitFor(() => redis.connection.state === 'ready', 5000, 'the connection');
  });

  afterAll(async () => {
    await server?.resume();
    await app?.close();
    await server?.stop();
  });

  beforeEach(() => {
    states.length = 0;
    commands.length = 0;
  });

  const outcomes = () => [...new Set(commands.map((event) => event.outcome))];

  it('commands queued while the loop is blocked are timed from their write: answered, breaker closed', async () => {
    // A few ms of work in Redis, far within the deadline: the replies come a little after the write.
    const spin = redis.defineScript<number>(
      'lag_spin',
      'local n = 0 for i = 1, tonumber(ARGV[1]) do n = n + 1 end return n',
    );
    for (let round = 0; round < 5; round++) {
      const calls = [spin([], [SPIN]), ...Array.from({ length: 20 }, (_, i) => redis.get(`lag:${i}`))];
      block(BLOCK_MS); // before the batch is written
      await expect(Promise.all(calls)).resolves.toHaveLength(21);
    }
    expect(outcomes()).toEqual(['ok']);
    expect(states).toEqual([]);
  });

  it('replies that arrive while the loop is blocked are read before any verdict', async () => {
    for (let round = 0; round < 5; round++) {
      const calls = Array.from({ length: 20 }, (_, i) => redis.get(`lag:${i}`));
      await written();
      block(BLOCK_MS); // the replies wait in the socket
      await expect(Promise.all(calls)).resolves.toHaveLength(20);
    }
    expect(outcomes()).toEqual(['ok']);
    expect(states).toEqual([]);
  });

  it("lag is not charged to a request's deadline: its later commands still get their budget", async () => {
    const deadline = Deadline.after(TIMEOUT_MS);
    const first = redis.get('lag:first', { deadline });
    block(BLOCK_MS);
    await written();
    block(BLOCK_MS);
    await first;
    expect(deadline.remainingMs()).toBeGreaterThan(0);
    await expect(redis.set('lag:second', 'v', { deadline })).resolves.toBeUndefined();
    await expect(redis.get('lag:second', { deadline })).resolves.toBe('v');
    expect(outcomes()).toEqual(['ok']);
  });

  it('a stalled Redis is still late while the loop is blocked: timeouts, and the breaker opens', async () => {
    await server.stall();
    try {
      for (let i = 0; i < 3; i++) {
        const call = redis.get('lag:stalled');
        await written();
        block(BLOCK_MS); // past the deadline with the command on the wire and no reply
        await expect(call).rejects.toMatchObject({ name: 'RedisUnavailableError', reason: 'timeout' });
      }
      expect(states.map(({ state, reason }) => `${state}: ${reason}`)).toEqual(['down: circuit open after 3 failures']);
    } finally {
      await server.resume();
    }
    await waitFor(() => redis.connection.state === 'ready', 5000, 'the breaker to close');
  });
});
