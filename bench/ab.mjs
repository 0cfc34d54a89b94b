// A/B of two bench app configs: each in its own app host, alternating rounds against one
// Redis, so drift hits both alike. Prints req/s and CPU µs per request per round and the
// median ratio B / A. For trying one idea quickly; `npm run bench` is the measurement.
//
//   node bench/ab.mjs '<config A as JSON>' '<config B as JSON>' [--rounds N] [--seconds S] [--flood] [--dist-b DIR]
//
// --flood, or "flood": true in one config: limits of 10 per window for both sides or that
// one, so after the warm-up every request is a 429 (the bench's flood: one client over its
// limit), e.g. node bench/ab.mjs '{"limiter":"shield"}' '{"limiter":"shield","flood":true}'.
//
// e.g. node bench/ab.mjs '{"cache":"shield"}' '{"cache":"shield","autoPipelining":true}'
// or the floor with its writes batched as the library batches its own (one write per turn):
// node bench/ab.mjs '{"limiter":"floor","autoPipelining":true}' '{"limiter":"shield"}'
//
// --dist-b <dir>: side B runs another build of the library, the `dist` directory of
// libs/nestjs-redis-shield copied aside, e.g. to weigh a change against the last commit:
//   git stash && npm run build && cp -r libs/nestjs-redis-shield/dist /tmp/before \
//     && git stash pop && npm run build
//   node bench/ab.mjs '{"limiter":"shield"}' '{"limiter":"shield"}' --dist-b /tmp/before
// (B is then the build before the change). The bench apps are copied to bench/.ab-b with
// that build as their `nestjs-redis-shield`; everything else resolves as for side A.
// Configs are bench/apps/config.ts BenchAppConfig without redisUrl and tiers (the bench's
// high limits are used). Needs `npm run build` and the bench package installed.
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { hostOfBuild, spawnHost } from './lib/app-host.mjs';
import { HIGH_TIERS, numericOption, withBenchRedis } from './lib/apps.mjs';
import { load } from './lib/load.mjs';
import { median } from './lib/report.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) => numericOption(args, name, fallback);
const configs = args.filter((arg) => arg.startsWith('{')).map((arg) => JSON.parse(arg));
if (configs.length !== 2) {
  process.stderr.write(
    "usage: node bench/ab.mjs '<config A>' '<config B>' [--rounds N] [--seconds S] [--flood] [--dist-b DIR]\n",
  );
  process.exit(2);
}
const distB = args.includes('--dist-b') ? args[args.indexOf('--dist-b') + 1] : undefined;
const rounds = option('rounds', 5);
const seconds = option('seconds', 5);
const FLOOD_TIERS = HIGH_TIERS.map((tier) => ({ ...tier, limit: 10 }));

await withBenchRedis(main);

async function main(redis) {
  const sides = [];
  for (const [index, { flood, ...config }] of configs.entries()) {
    const host = spawnHost(
      index === 0 ? 'A' : 'B',
      index === 1 && distB !== undefined ? hostOfBuild(distB) : undefined,
    );
    const tiers = flood || args.includes('--flood') ? FLOOD_TIERS : HIGH_TIERS;
    const port = await host.start({ ...config, tiers, redisUrl: redis.url });
    await load({ port, seconds: 2 }); // warm-up
    sides.push({ host, port, rps: [], cpu: [] });
  }
  for (let round = 1; round <= rounds; round++) {
    // Alternate which side goes first.
    const order = round % 2 ? sides : [...sides].reverse();
    for (const side of order) {
      const before = await side.host.stats();
      const result = await load({ port: side.port, seconds });
      const after = await side.host.stats();
      const problems = after.problems.length ? ` PROBLEMS: ${after.problems.join('; ')}` : '';
      side.rps.push(result.rps);
      side.cpu.push((after.cpuUs - before.cpuUs) / result.requests);
      const statuses = JSON.stringify(result.statuses);
      print(
        `round ${round} ${side.host.name}: ${Math.round(result.rps)} req/s, ` +
          `${Math.round(side.cpu.at(-1))} CPU µs/req, p99 ${result.p99} ms ${statuses}${problems}`,
      );
    }
  }
  const ratios = sides[0].rps.map((rps, i) => sides[1].rps[i] / rps);
  for (const side of sides) {
    print(
      `${side.host.name}: median ${Math.round(median(side.rps))} req/s, ${Math.round(median(side.cpu))} CPU µs/req`,
    );
  }
  print(`B / A req/s per round: ${ratios.map((r) => r.toFixed(2)).join(' ')}; median ${median(ratios).toFixed(2)}`);
  for (const side of sides) await side.host.close();
  if (distB !== undefined) rmSync(fileURLToPath(new URL('.ab-b', import.meta.url)), { recursive: true, force: true });
}

/** One line to stdout (the bench prints its report with process.stdout, not console). */
function print(line) {
  process.stdout.write(`${line}\n`);
}
