// A jest setup file (see `setupFiles` in jest.config.js): this machine runs its own Redis on
// port 6379, and a test reaching it would pass or fail by accident, or damage its data.
// Node core modules are shared between jest's sandbox and the real process, so patching
// `net.Socket.prototype` here also catches ioredis, tls and http connections.
import net from 'node:net';
import { DEFAULT_REDIS_PORT, FORBIDDEN_PORT_MESSAGE } from './ports.js';

// Every test file runs this again in the same worker: keep the true original under a global
// symbol and always wrap that one, so the guard is never stacked and throws this file's Error.
const ORIGINAL_CONNECT = Symbol.for('nestjs-redis-shield.test-harness.original-socket-connect');

type Connect = (this: net.Socket, ...args: unknown[]) => net.Socket;
const prototype = net.Socket.prototype as unknown as { connect: Connect; [ORIGINAL_CONNECT]?: Connect };
const original = (prototype[ORIGINAL_CONNECT] ??= prototype.connect);

prototype.connect = function connect(this: net.Socket, ...args: unknown[]): net.Socket {
  if (targetsDefaultRedis(args)) throw new Error(FORBIDDEN_PORT_MESSAGE);
  return Reflect.apply(original, this, args);
};

/** Reads the port out of `connect(port[, host])`, `connect({ port, host })` and net's internal `connect([options, cb])`. */
function targetsDefaultRedis(args: unknown[]): boolean {
  let target = args[0];
  if (Array.isArray(target)) target = target[0];
  if (typeof target === 'object' && target !== null) {
    const { path, port } = target as { path?: unknown; port?: unknown };
    if (path) return false; // a unix socket
    target = port;
  }
  if (typeof target === 'string' && target.trim() === '') return false;
  return (typeof target === 'number' || typeof target === 'string') && Number(target) === DEFAULT_REDIS_PORT;
}
