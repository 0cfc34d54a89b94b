import { createServer } from 'node:net';

/** The port of this machine's own Redis: tests must never use it. */
export const DEFAULT_REDIS_PORT = 6379;

/** The message of the error thrown when a test tries to connect to port 6379 (see forbid-default-redis.ts). */
export const FORBIDDEN_PORT_MESSAGE =
  'Tests must not use the Redis on port 6379: start one with startRedis() from test/harness';

/** The only interface the harness listens on. */
export const LOOPBACK = '127.0.0.1';

const MAX_ATTEMPTS = 200;

// The kernel may hand out the same ephemeral port twice in a row once it is closed again,
// so two servers started back to back could otherwise be given the same port.
const handedOut = new Set<number>();

/** Options of {@link freePort}. */
export interface FreePortOptions {
  /** Ports that must be free as well for a candidate `port`, e.g. `(p) => [p + 10000]` for a Cluster bus. */
  alsoFree?: (port: number) => number[];
}

/**
 * A loopback TCP port that nothing listens on right now (never 6379, never one this process
 * already handed out). Another process may still take it before it is used: callers that
 * start servers retry with a new port when the bind fails.
 */
export async function freePort(options: FreePortOptions = {}): Promise<number> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const port = await tryBind(0);
    if (port === undefined || port === DEFAULT_REDIS_PORT || handedOut.has(port)) continue;
    handedOut.add(port); // before awaiting, so a concurrent call cannot return it too
    const others = options.alsoFree?.(port) ?? [];
    if (others.some((other) => !isValidPort(other) || other === DEFAULT_REDIS_PORT)) continue;
    if (!(await allFree(others))) continue;
    return port;
  }
  throw new Error(`no free loopback port found in ${MAX_ATTEMPTS} attempts`);
}

/** Whether nothing listens on `port` of the loopback interface (checked by binding it). */
export async function isPortFree(port: number): Promise<boolean> {
  return (await tryBind(port)) !== undefined;
}

function isValidPort(port: number): boolean {
  return Number.isInteger(port) && port > 0 && port <= 65535;
}

async function allFree(ports: number[]): Promise<boolean> {
  for (const port of ports) if (!(await isPortFree(port))) return false;
  return true;
}

/** Binds `port` (0: any) and closes it again; the bound port, or undefined when the bind failed. */
function tryBind(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ port, host: LOOPBACK, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}
