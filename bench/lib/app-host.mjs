// The driver's side of an app host (bench/dist/main.js, compiled from bench/apps/main.ts):
// a child process with an IPC channel that starts and stops bench apps on request.
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tail, track } from './processes.mjs';

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const REQUEST_TIMEOUT_MS = 60_000;

/**
 * Spawns a host named `name` (from `main`, default bench/dist/main.js). Returns `{ name,
 * start(config) → port, stop(port), stats() → { cpu, handlerCalls, problems }, close() }`.
 */
export function spawnHost(name, main = MAIN) {
  const child = track(
    spawn(process.execPath, [main], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    }),
  );
  const output = tail(child);
  const pending = new Map();
  let seq = 0;
  child.on('message', (reply) => {
    const waiter = pending.get(reply.seq);
    if (!waiter) return;
    pending.delete(reply.seq);
    clearTimeout(waiter.timer);
    if (reply.ok) waiter.resolve(reply);
    else waiter.reject(new Error(`app host ${name}: ${reply.error}`));
  });
  child.once('exit', (code, signal) => {
    for (const waiter of pending.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error(`app host ${name} exited (${signal ?? code}):\n${output()}`));
    }
    pending.clear();
  });

  function request(message) {
    return new Promise((resolve, reject) => {
      if (child.exitCode !== null || !child.connected) {
        reject(new Error(`app host ${name} is not running:\n${output()}`));
        return;
      }
      const id = ++seq;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`app host ${name}: no answer to ${message.type} within ${REQUEST_TIMEOUT_MS} ms`));
      }, REQUEST_TIMEOUT_MS);
      pending.set(id, { resolve, reject, timer });
      child.send({ ...message, seq: id });
    });
  }

  return {
    name,
    async start(config) {
      return (await request({ type: 'start', config })).port;
    },
    async stop(port) {
      await request({ type: 'stop', port });
    },
    async stats() {
      const { cpu, handlerCalls, problems } = await request({ type: 'stats' });
      return { cpuUs: cpu.user + cpu.system, handlerCalls, problems };
    },
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/**
 * bench/.ab-b: a copy of the compiled bench apps whose `nestjs-redis-shield` is the build in
 * `dist` (Node resolves the package from the nearest node_modules first; Nest, ioredis and
 * the anchors still come from bench/node_modules and the root). Returns its main.js.
 */
export function hostOfBuild(dist) {
  if (!dist || dist.startsWith('--')) throw new Error('--dist-b needs the directory of a built library (its dist)');
  const bench = fileURLToPath(new URL('..', import.meta.url));
  const root = fileURLToPath(new URL('../.ab-b', import.meta.url));
  const library = join(root, 'node_modules', 'nestjs-redis-shield');
  rmSync(root, { recursive: true, force: true });
  mkdirSync(library, { recursive: true });
  cpSync(join(bench, 'dist'), join(root, 'dist'), { recursive: true });
  cpSync(join(bench, 'package.json'), join(root, 'package.json'));
  cpSync(join(bench, '..', 'libs', 'nestjs-redis-shield', 'package.json'), join(library, 'package.json'));
  cpSync(dist, join(library, 'dist'), { recursive: true });
  return join(root, 'dist', 'main.js');
}
