// Limit-only benchmark: req/s of RateLimitService.consume against the Redis store, the CPU
// each call costs this process and Redis, and Redis bytes per client. Starts its own
// redis-server on a free loopback port.
// Usage: npm run bench:rate-limit [-- --seconds 5 --concurrency 64 --clients 20000]
import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { NestFactory } from '@nestjs/core';
import { Module } from '@nestjs/common';
import { Redis } from 'ioredis';
import { RateLimitModule, RateLimitService, RedisModule } from 'nestjs-redis-shield';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '64' },
    clients: { type: 'string', default: '20000' },
  },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const clients = Number(values.clients);

const port = await new Promise((resolve) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    server.close(() => resolve(port));
  });
});
const dir = mkdtempSync(join(tmpdir(), 'bench-redis-'));
const redisProcess = spawn(
  'redis-server',
  ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
  { stdio: 'ignore' },
);
for (let attempt = 0; !(await accepts(port)); attempt++) {
  if (attempt > 200) throw new Error(`redis-server did not start on port ${port}`);
  await new Promise((resolve) => setTimeout(resolve, 25));
}
const admin = new Redis({ port, host: '127.0.0.1' });

class BenchModule {}
Module({
  imports: [
    RedisModule.forRoot({ url: `redis://127.0.0.1:${port}`, hashSecret: 'bench', commandTimeoutMs: 1000 }),
    RateLimitModule.forRoot({}),
  ],
})(BenchModule);

const app = await NestFactory.createApplicationContext(BenchModule, { logger: false });
const limiter = app.get(RateLimitService);
await new Promise((resolve) => setTimeout(resolve, 100));

// Memory: one consume each for `clients` distinct clients, default three tiers.
await limiter.consume('ip:warm-up');
const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await admin.info('memory'))[1]);
const before = await usedMemory();
for (let start = 0; start < clients; start += 500) {
  await Promise.all(
    Array.from({ length: Math.min(500, clients - start) }, (_, i) => limiter.consume(`ip:mem-${start + i}`)),
  );
}
const bytesPerClient = ((await usedMemory()) - before) / clients;

// Throughput: `concurrency` loops calling consume for `seconds`, over 10 000 clients.
let done = 0;
let allowed = 0;
await admin.config('RESETSTAT');
const cpuBefore = process.cpuUsage();
const deadline = performance.now() + seconds * 1000;
await Promise.all(
  Array.from({ length: concurrency }, async (_, worker) => {
    let i = worker;
    while (performance.now() < deadline) {
      const result = await limiter.consume(`ip:tp-${i % 10_000}`);
      done += 1;
      if (result.allowed) allowed += 1;
      i += concurrency;
    }
  }),
);
const cpu = process.cpuUsage(cpuBefore);
const elapsed = seconds;
const commands = await admin.info('commandstats');
// Redis's own time in the script (its commands included), per call.
const scriptUs = Number(/cmdstat_evalsha:.*usec_per_call=([\d.]+)/.exec(commands)?.[1] ?? NaN);

process.stdout.write(
  [
    `rate-limit consume: ${Math.round(done / elapsed)} req/s (${done} calls in ${elapsed} s, concurrency ${concurrency}, ${allowed} allowed)`,
    `rate-limit CPU: ${((cpu.user + cpu.system) / done).toFixed(1)} µs of this process and ${scriptUs.toFixed(1)} µs of Redis per call`,
    `rate-limit memory: ${bytesPerClient.toFixed(1)} B per client (${clients} clients, default 3 tiers)`,
    `redis commands: ${(commands.match(/cmdstat_\w+:calls=\d+/g) ?? []).join(' ')}`,
  ].join('\n') + '\n',
);

await app.close();
admin.disconnect();
redisProcess.kill('SIGKILL');
rmSync(dir, { recursive: true, force: true });

/** Whether something accepts TCP connections on the loopback port. */
function accepts(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
