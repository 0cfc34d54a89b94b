// Load generation with autocannon (a root devDependency), in the driver's process.
import { Agent, get } from 'node:http';
import autocannon from 'autocannon';

export const CONNECTIONS = 50;

/**
 * A measured run: autocannon, `GET /ping` on `port` over `connections` keep-alive
 * connections for `seconds` (whole seconds: autocannon samples per second). Returns
 * `{ requests, seconds, rps, p50, p99, statuses, errors, timeouts }` (latency in ms).
 */
export async function load({ port, seconds, connections = CONNECTIONS }) {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    duration: seconds,
    timeout: 10,
    requests: [{ method: 'GET', path: '/ping' }],
  });
  const statuses = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count]));
  return {
    requests: result.requests.total,
    seconds: result.duration,
    rps: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    statuses,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

/** Whether every response of a load had `status`; otherwise a line saying what came back. */
export function unexpected(result, status = 200) {
  const others = Object.entries(result.statuses).filter(([code]) => Number(code) !== status);
  if (others.length === 0 && result.errors === 0 && result.timeouts === 0) return undefined;
  return (
    `expected only ${status}, got ${JSON.stringify(result.statuses)}` +
    (result.errors || result.timeouts ? `, ${result.errors} errors, ${result.timeouts} timeouts` : '')
  );
}

/**
 * Exactly `amount` requests of `GET /ping` (or as many as fit in `seconds`) over
 * `connections` keep-alive connections: for warm-ups and counted runs, since autocannon
 * always lasts whole seconds. `headers(i)` gives the headers of the i-th request.
 * Returns `{ requests, seconds, statuses, errors, timeouts }`.
 */
export async function requests({ port, amount = Infinity, seconds = Infinity, connections = CONNECTIONS, headers }) {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const statuses = {};
  let next = 0;
  let errors = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const one = (i) =>
    new Promise((resolve) => {
      const request = get({ host: '127.0.0.1', port, path: '/ping', agent, headers: headers?.(i) }, (response) => {
        statuses[response.statusCode] = (statuses[response.statusCode] ?? 0) + 1;
        response.resume();
        response.on('end', resolve);
      });
      request.on('error', () => {
        errors += 1;
        resolve();
      });
    });
  await Promise.all(
    Array.from({ length: Math.min(connections, amount) }, async () => {
      while (next < amount && performance.now() < deadline) await one(next++);
    }),
  );
  agent.destroy();
  return { requests: next - errors, seconds: (performance.now() - started) / 1000, statuses, errors, timeouts: 0 };
}

/** `n` requests one after the other (pre-exhausting a limit); returns their statuses. */
export async function sequential(port, n, headers = {}) {
  const { statuses } = await requests({ port, amount: n, connections: 1, headers: () => headers });
  return Object.entries(statuses).flatMap(([code, count]) => Array(count).fill(Number(code)));
}
