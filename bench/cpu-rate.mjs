// App CPU per request at a fixed request rate, for configs side by side: each config's app
// host driven in turn at `--rate` req/s (autocannon's overallRate, 50 connections), rounds
// alternating. Below saturation the app is not starved of CPU by Redis and the load
// generator, so CPU µs per request varies far less between rounds than under `ab.mjs`'s
// full load: a way to weigh a change to the per-request work of small size. A diagnostic;
// `npm run bench` is the measurement.
//
//   node bench/cpu-rate.mjs '<config A>' '<config B>' [...] [--rate R] [--rounds N] [--seconds S] [--dist-b DIR]
import autocannon from 'autocannon';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { hostOfBuild, spawnHost } from './lib/app-host.mjs';
import { HIGH_TIERS, numericOption, withBenchRedis } from './lib/apps.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) => numericOption(args, name, fallback);
const configs = args.filter((arg) => arg.startsWith('{')).map((arg) => JSON.parse(arg));
const rate = option('rate', 3000);
const rounds = option('rounds', 6);
const seconds = option('seconds', 4);
const distB = args.includes('--dist-b') ? args[args.indexOf('--dist-b') + 1] : undefined;

await withBenchRedis(async (redis) => {
  const sides = [];
  for (const [index, config] of configs.entries()) {
    const host = spawnHost(String.fromCharCode(65 + index), index === 1 && distB ? hostOfBuild(distB) : undefined);
    const port = await host.start({ ...config, tiers: HIGH_TIERS, redisUrl: redis.url });
    await drive(port, 2);
    sides.push({ host, port, cpu: [], p99: [] });
  }
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 ? sides : [...sides].reverse();
    for (const side of order) {
      const before = await side.host.stats();
      const result = await drive(side.port, seconds);
      const after = await side.host.stats();
      side.cpu.push((after.cpuUs - before.cpuUs) / result.requests.total);
      side.p99.push(result.latency.p99);
    }
    process.stdout.write(
      `round ${round}: ${sides.map((s) => `${s.host.name} ${s.cpu.at(-1).toFixed(1)}`).join('  ')}\n`,
    );
  }
  for (const side of sides) {
    const sorted = [...side.cpu].sort((a, b) => a - b);
    process.stdout.write(
      `${side.host.name}: median ${sorted[Math.floor(sorted.length / 2)].toFixed(1)} CPU µs/req, min ${sorted[0].toFixed(1)}\n`,
    );
    await side.host.close();
  }
  for (const side of sides.slice(1)) {
    const diffs = side.cpu.map((cpu, i) => cpu - sides[0].cpu[i]).sort((a, b) => a - b);
    process.stdout.write(
      `${side.host.name} - A per round: median ${diffs[Math.floor(diffs.length / 2)].toFixed(1)} µs (${diffs.map((d) => d.toFixed(0)).join(' ')})\n`,
    );
  }
  if (distB) rmSync(fileURLToPath(new URL('.ab-b', import.meta.url)), { recursive: true, force: true });
});

function drive(port, duration) {
  return autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: 50,
    overallRate: rate,
    duration,
    requests: [{ method: 'GET', path: '/ping' }],
  });
}
