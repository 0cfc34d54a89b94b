import { connect, createServer, type Server, type Socket } from 'node:net';
import { LOOPBACK } from './ports.js';
import { type RedisAddress } from './redis-server.js';

/** One command a client sent through a {@link RespProxy}. */
export interface RecordedCommand {
  /** The command name, upper-case (`SET`). */
  name: string;
  /** The arguments after the name, decoded as UTF-8. */
  args: string[];
  /** When the proxy received it (`Date.now()`, ms). */
  at: number;
  /** Which client connection sent it, numbered from 1 in accept order. */
  connection: number;
}

/**
 * A TCP proxy in front of a Redis that records every command crossing the wire (not those a
 * Lua script runs server side), so tests can count round trips and see which keys they name.
 */
export interface RespProxy {
  /** Always `127.0.0.1`. */
  readonly host: string;
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** Every command so far, in arrival order (across connections). */
  readonly commands: RecordedCommand[];
  /** Forgets the commands recorded so far. */
  reset(): void;
  /** How many commands were recorded, or how many named `name` (any case). */
  count(name?: string): number;
  /** The recorded command names, in order. */
  names(): string[];
  /** The keys `command` names; see {@link keysOf}. */
  keysOf(command: RecordedCommand): string[];
  /** Stops listening and destroys every connection. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts a {@link RespProxy} on a free loopback port, forwarding to `target` byte for byte.
 * When either side of a connection closes, the other side is destroyed; a stalled target simply
 * leaves the bytes unanswered.
 */
export async function startRespProxy(target: RedisAddress): Promise<RespProxy> {
  const proxy = new RecordingProxy(target);
  await proxy.listen();
  return proxy;
}

class RecordingProxy implements RespProxy {
  readonly host = LOOPBACK;
  readonly commands: RecordedCommand[] = [];
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private connections = 0;
  private closing: Promise<void> | undefined;

  constructor(private readonly target: RedisAddress) {
    this.server = createServer((client) => this.accept(client));
  }

  get port(): number {
    const address = this.server.address();
    if (typeof address !== 'object' || address === null) throw new Error('the proxy is not listening');
    return address.port;
  }
  get url(): string {
    return `redis://${LOOPBACK}:${this.port}`;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port: 0, host: LOOPBACK }, () => resolve());
    });
  }

  reset(): void {
    this.commands.length = 0;
  }

  count(name?: string): number {
    if (name === undefined) return this.commands.length;
    const upper = name.toUpperCase();
    return this.commands.filter((command) => command.name === upper).length;
  }

  names(): string[] {
    return this.commands.map((command) => command.name);
  }

  keysOf(command: RecordedCommand): string[] {
    return keysOf(command);
  }

  close(): Promise<void> {
    this.closing ??= new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
    return this.closing;
  }

  private accept(client: Socket): void {
    const connection = ++this.connections;
    const upstream = connect({ host: this.target.host, port: this.target.port });
    const parser = new RespCommandParser();
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.setNoDelay(true);
      socket.on('error', () => {}); // the 'close' below tears the pair down
      socket.on('close', () => {
        this.sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    // Recorded before forwarding, so a command is in the record by the time its reply arrives.
    client.on('data', (chunk: Buffer) => {
      for (const [name, ...args] of parser.push(chunk)) {
        this.commands.push({ name: name.toUpperCase(), args, at: Date.now(), connection });
      }
    });
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

/**
 * Splits a client→server byte stream into commands (RESP arrays of bulk strings, or inline
 * commands), whatever the TCP chunking: a command may span chunks, a chunk may hold many.
 * After a protocol error it stops parsing (the bytes still flow; Redis will reject them).
 */
export class RespCommandParser {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  // No command can complete before this many bytes are buffered, so large values are not rescanned per chunk.
  private needed = 1;
  private broken = false;

  /** Feeds a chunk; returns the commands it completes, each as `[name, ...args]`. */
  push(chunk: Buffer): string[][] {
    if (this.broken) return [];
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < this.needed) return [];
    const buffer = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
    const commands: string[][] = [];
    let offset = 0;
    for (;;) {
      const parsed = this.parseOne(buffer, offset);
      if (parsed === undefined) break;
      if ('needed' in parsed) {
        this.needed = parsed.needed - offset;
        break;
      }
      if (parsed.command.length > 0) commands.push(parsed.command);
      offset = parsed.next;
    }
    const rest = this.broken ? Buffer.alloc(0) : buffer.subarray(offset);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    if (offset === buffer.length || this.broken) this.needed = 1;
    return commands;
  }

  /** One command at `offset`, `{ needed }` (an absolute end offset) when incomplete, undefined when broken. */
  private parseOne(
    buffer: Buffer,
    offset: number,
  ): { command: string[]; next: number } | { needed: number } | undefined {
    const eol = buffer.indexOf('\n', offset);
    if (eol < 0) return { needed: buffer.length + 1 };
    if (buffer[offset] !== 0x2a /* '*' */) {
      const line = buffer.toString('utf8', offset, eol).trim();
      return { command: line === '' ? [] : line.split(/\s+/), next: eol + 1 };
    }
    const count = this.number(buffer, offset + 1, eol);
    if (count === undefined) return undefined;
    const command: string[] = [];
    let at = eol + 1;
    for (let i = 0; i < count; i++) {
      const headerEnd = buffer.indexOf('\r\n', at);
      if (headerEnd < 0) return { needed: buffer.length + 1 };
      const length = buffer[at] === 0x24 /* '$' */ ? this.number(buffer, at + 1, headerEnd) : undefined;
      if (length === undefined) return undefined;
      const start = headerEnd + 2;
      if (buffer.length < start + length + 2) return { needed: start + length + 2 };
      command.push(buffer.toString('utf8', start, start + length));
      at = start + length + 2;
    }
    return { command, next: at };
  }

  private number(buffer: Buffer, start: number, end: number): number | undefined {
    const text = buffer.toString('latin1', start, end).trim();
    const value = Number(text);
    if (text === '' || !Number.isInteger(value) || value < 0) {
      this.broken = true;
      return undefined;
    }
    return value;
  }
}

const FIRST_ARG_IS_KEY = new Set(
  (
    'GET SET SETNX SETEX PSETEX GETSET GETDEL GETEX APPEND STRLEN INCR INCRBY INCRBYFLOAT DECR DECRBY ' +
    'EXPIRE PEXPIRE EXPIREAT PEXPIREAT EXPIRETIME PEXPIRETIME PERSIST TTL PTTL TYPE ' +
    'HGET HSET HSETNX HMSET HMGET HDEL HEXISTS HLEN HKEYS HVALS HGETALL HINCRBY HINCRBYFLOAT ' +
    'HSCAN ZSCAN SSCAN ' +
    'ZADD ZREM ZRANGE ZRANGEBYSCORE ZREVRANGE ZREMRANGEBYSCORE ZREMRANGEBYRANK ZCARD ZCOUNT ZSCORE ZINCRBY ZRANK ' +
    'SADD SREM SMEMBERS SISMEMBER SCARD LPUSH RPUSH LPOP RPOP LRANGE LLEN LTRIM ' +
    'XADD XLEN XRANGE XREVRANGE XTRIM XDEL PFADD PFCOUNT'
  ).split(' '),
);
const ALL_ARGS_ARE_KEYS = new Set(['DEL', 'UNLINK', 'EXISTS', 'MGET', 'TOUCH', 'WATCH']);
const NUMKEYS_THEN_KEYS = new Set(['EVAL', 'EVALSHA', 'EVAL_RO', 'EVALSHA_RO', 'FCALL', 'FCALL_RO']);

/**
 * The keys a command names: the first argument of single-key commands (GET, SET, HSET, ZADD,
 * XADD, HSCAN, ...), every argument of DEL/UNLINK/EXISTS/MGET/TOUCH/WATCH, every other argument of
 * MSET/MSETNX, the `numkeys` keys of EVAL/EVALSHA/FCALL; `[]` for anything else.
 */
export function keysOf(command: Pick<RecordedCommand, 'name' | 'args'>): string[] {
  const name = command.name.toUpperCase();
  const { args } = command;
  if (FIRST_ARG_IS_KEY.has(name)) return args.slice(0, 1);
  if (ALL_ARGS_ARE_KEYS.has(name)) return [...args];
  if (name === 'MSET' || name === 'MSETNX') return args.filter((_, index) => index % 2 === 0);
  if (NUMKEYS_THEN_KEYS.has(name)) return args.slice(2, 2 + (Number(args[1]) || 0));
  return [];
}
