// Load generation with autocannon (a root devDependency), in the driver's process.
import autocannon from 'autocannon';

export const CONNECTIONS = 50;

/**
 * `GET /ping` on `port` with `connections` keep-alive connections, for `seconds` or for
 * `amount` requests. `headers(i)` gives the headers of the i-th request (distinct clients).
 * Returns `{ requests, seconds, rps, p50, p99, statuses, errors, timeouts }` (latency in ms).
 */
export async function load({ port, seconds, amount, connections = CONNECTIONS, headers }) {
  let index = 0;
  const request = { method: 'GET', path: '/ping' };
  if (headers) {
    request.setupRequest = (req) => ({ ...req, headers: { ...req.headers, ...headers(index++) } });
  }
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    ...(amount === undefined ? { duration: seconds } : { amount }),
    timeout: 10,
    requests: [request],
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

/** `n` requests one after the other (pre-exhausting a limit); returns their statuses. */
export async function sequential(port, n, headers = {}) {
  const statuses = [];
  for (let i = 0; i < n; i++) {
    const response = await fetch(`http://127.0.0.1:${port}/ping`, { headers });
    await response.arrayBuffer();
    statuses.push(response.status);
  }
  return statuses;
}
