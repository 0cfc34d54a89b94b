// Child processes of the bench (redis-server, app hosts): tracked from spawn to exit and
// killed on every way out, temp dirs removed. Loopback only; never port 6379.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const LOOPBACK = '127.0.0.1';
const FORBIDDEN_PORT = 6379; // this machine's own Redis
const START_TIMEOUT_MS = 30_000;

const children = new Set();
const tempDirs = new Set();

/** Spawns a tracked child. */
export function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Kills every child still running and removes temp dirs; bounded to 5 s. */
export async function cleanup() {
  const exits = [...children].map((child) => new Promise((resolve) => child.once('exit', resolve)));
  for (const child of children) child.kill('SIGKILL');
  await Promise.race([Promise.all(exits), sleep(5000)]);
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}

process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * Starts a redis-server of its own on a free loopback port (no persistence), returning
 * `{ host, port, url, version }` once it answers PING.
 */
export async function startRedis() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-'));
  tempDirs.add(dir);
  const port = await freePort();
  // DEBUG (SET-ACTIVE-EXPIRE, to pause expiry during the memory runs) from loopback clients only.
  const args = ['--port', String(port), '--bind', LOOPBACK, '--save', '', '--appendonly', 'no', '--dir', dir];
  args.push('--enable-debug-command', 'local');
  const child = track(spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  const output = tail(child);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await pings(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`redis-server did not start on port ${port}:\n${output()}`);
    }
    await sleep(20);
  }
  return { host: LOOPBACK, port, url: `redis://${LOOPBACK}:${port}`, child };
}

/** The last 8 kB a child printed (stdout and stderr); the pipes are always drained. */
export function tail(child) {
  let text = '';
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (chunk) => {
      text = (text + chunk.toString('utf8')).slice(-8192);
    });
  }
  return () => text;
}

/** A loopback port nothing listens on now, never 6379. */
export async function freePort() {
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, LOOPBACK, () => {
        const { port } = server.address();
        server.close(() => resolve(port));
      });
    });
    if (port !== FORBIDDEN_PORT) return port;
  }
}

/** Whether a Redis answers PING on the loopback port. */
export function pings(port) {
  return new Promise((resolve) => {
    const socket = connect(port, LOOPBACK);
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
