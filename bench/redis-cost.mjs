// What one request of a bench app costs Redis: runs each config's app host in turn against
// one Redis, drives it as the bench does (autocannon, 50 connections unless told, after a warm-up), and
// prints Redis's own CPU time (INFO cpu, user + sys) per request and each command's
// microseconds per call (INFO commandstats). On a small machine Redis shares the cores with
// the app and the load generator, so Redis time per request is app throughput lost. A
// diagnostic, not a measurement of speed (that is `npm run bench`).
//
//   node bench/redis-cost.mjs '<config as JSON>' ['<config>' ...] [--seconds N] [--connections N]
//
// e.g. node bench/redis-cost.mjs '{"limiter":"shield"}' '{"limiter":"floor"}' '{"limiter":"rlf"}'
// Configs are bench/apps/config.ts BenchAppConfig without redisUrl and tiers (the bench's
// high limits are used), as for bench/ab.mjs. Needs `npm run build` and the bench package.
import { Redis } from 'ioredis';
import { spawnHost } from './lib/app-host.mjs';
import { HIGH_TIERS, numericOption, withBenchRedis } from './lib/apps.mjs';
import { CONNECTIONS, load } from './lib/load.mjs';

const args = process.argv.slice(2);
const configs = args.filter((arg) => arg.startsWith('{'));
if (configs.length === 0) {
  process.stderr.write(
    "usage: node bench/redis-cost.mjs '<config as JSON>' ['<config>' ...] [--seconds N] [--connections N]\n",
  );
  process.exit(2);
}
const seconds = numericOption(args, 'seconds', 5);
const connections = numericOption(args, 'connections', CONNECTIONS);

await withBenchRedis(async (redis) => {
  const admin = new Redis(redis.url);
  try {
    for (const [index, config] of configs.entries()) {
      const host = spawnHost(String.fromCharCode(65 + index));
      const port = await host.start({ ...JSON.parse(config), tiers: HIGH_TIERS, redisUrl: redis.url });
      await load({ port, seconds: 2 }); // warm-up
      await admin.config('RESETSTAT');
      const before = cpuSeconds(await admin.info('cpu'));
      const result = await load({ port, seconds, connections });
      const after = cpuSeconds(await admin.info('cpu'));
      const stats = commandStats(await admin.info('commandstats'));
      process.stdout.write(
        `${config}: ${Math.round(result.rps)} req/s, Redis CPU ${(((after - before) * 1e6) / result.requests).toFixed(1)} µs/req\n`,
      );
      for (const { command, calls, usecPerCall } of stats) {
        if (command === 'info' || command.startsWith('config')) continue;
        process.stdout.write(
          `  ${command}: ${(calls / result.requests).toFixed(3)} calls/req, ${usecPerCall.toFixed(2)} µs/call\n`,
        );
      }
      await host.stop(port);
      await host.close();
    }
  } finally {
    admin.disconnect();
  }
});

/** used_cpu_user + used_cpu_sys of the Redis process, in seconds. */
function cpuSeconds(info) {
  const field = (name) => Number(info.match(new RegExp(`^${name}:([\\d.]+)`, 'm'))?.[1] ?? Number.NaN);
  return field('used_cpu_user') + field('used_cpu_sys');
}

/** `cmdstat_<name>:calls=…,usec_per_call=…` lines, busiest first. */
function commandStats(info) {
  return [...info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=\d+,usec_per_call=([\d.]+)/gm)]
    .map(([, command, calls, usec]) => ({ command, calls: Number(calls), usecPerCall: Number(usec) }))
    .sort((a, b) => b.calls - a.calls);
}
