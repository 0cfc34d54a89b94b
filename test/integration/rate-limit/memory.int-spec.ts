import { type RedisServer, startRedis } from '../../harness/index.js';
import { type LimiterApp, startLimiter } from './setup.js';

const CLIENTS = 20_000;
/** Issue target (≤ 200 B for the default three tiers; the anchors take 340-520 B). */
const BUDGET_BYTES_PER_CLIENT = 200;

async function usedMemory(server: RedisServer): Promise<number> {
  const info = String(await server.command('INFO', 'memory'));
  return Number(/used_memory:(\d+)/.exec(info)![1]);
}

describe('memory per client', () => {
  let server: RedisServer;
  let limiter: LimiterApp;

  beforeAll(async () => {
    server = await startRedis();
    limiter = await startLimiter({ url: server.url, commandTimeoutMs: 5000 });
  });

  afterAll(async () => {
    await limiter?.close();
    await server?.stop();
  });

  it(`stays within ${BUDGET_BYTES_PER_CLIENT} B per client with the default three tiers`, async () => {
    await limiter.service.consume('ip:warm-up'); // loads the script, grows client buffers once
    const before = await usedMemory(server);
    for (let start = 0; start < CLIENTS; start += 500) {
      await Promise.all(
        Array.from({ length: 500 }, (_, i) =>
          limiter.service.consume(`ip:10.${(start + i) >> 16}.${((start + i) >> 8) & 255}.${(start + i) & 255}`),
        ),
      );
    }
    const perClient = ((await usedMemory(server)) - before) / CLIENTS;
    expect(Number(await server.command('DBSIZE'))).toBe(CLIENTS + 1);
    // The figure the README quotes (npm run test:integration -- -t 'memory per client').
    process.stderr.write(`rate-limit memory: ${perClient.toFixed(1)} B per client (${CLIENTS} clients, 3 tiers)\n`);
    expect(perClient).toBeLessThanOrEqual(BUDGET_BYTES_PER_CLIENT);
  }, 60_000);
});
