import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInThisContext } from 'node:vm';
import { DEFAULT_REDIS_PORT, FORBIDDEN_PORT_MESSAGE, freePort, LOOPBACK } from './ports.js';

const STARTUP_TIMEOUT_MS = 10_000;
const RESTART_BIND_RETRY_MS = 5_000;
const EXIT_TIMEOUT_MS = 5_000;
const PROBE_TIMEOUT_MS = 500;
const POLL_MS = 10;
const OUTPUT_TAIL_CHARS = 4_000;
const PICKED_PORT_ATTEMPTS = 5;

/** Default time {@link sendCommand} waits for a reply, in ms. */
export const COMMAND_TIMEOUT_MS = 5_000;

/** A decoded RESP2 reply: simple/bulk string, integer, null, or an array of replies (nested errors become `Error`s). */
export type RespReply = string | number | null | unknown[];

/** Where a Redis listens. */
export interface RedisAddress {
  host: string;
  port: number;
}

/** Options of {@link startRedis}. */
export interface StartRedisOptions {
  /** The port to listen on; by default a free one (never 6379). */
  port?: number;
  /** Extra `redis-server` arguments, e.g. `['--maxmemory', '10mb']`. */
  args?: string[];
}

/** A `redis-server` child process owned by the test, listening on 127.0.0.1 with nothing persisted. */
export interface RedisServer extends RedisAddress {
  /** Always `127.0.0.1`. */
  readonly host: string;
  /** Stays the same across {@link RedisServer.restart}. */
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** Pid of the current (or last) process; changes on restart. */
  readonly pid: number;
  /** Whether a process is alive (possibly stalled). */
  readonly running: boolean;
  /** Whether the process is stopped by SIGSTOP. */
  readonly stalled: boolean;
  /** SIGSTOPs the process: it keeps its sockets, the kernel still accepts connections, nothing is answered. */
  stall(): Promise<void>;
  /** SIGCONTs a stalled process. Idempotent. */
  resume(): Promise<void>;
  /** SIGKILLs the process (stalled or not) and waits for it to exit. Idempotent. */
  kill(): Promise<void>;
  /** Kills the process if alive and starts an empty one on the same port (a Cluster node keeps its nodes.conf). */
  restart(): Promise<void>;
  /** Kills the process and removes its directory. Idempotent; the server cannot be restarted afterwards. */
  stop(): Promise<void>;
  /** Sends one command over a fresh connection; an error reply rejects. */
  command(...args: string[]): Promise<RespReply>;
  /** The tail of the process's stdout and stderr (its log), for debugging. */
  output(): string;
}

/**
 * Starts a `redis-server` on 127.0.0.1 (no persistence, fresh temporary `--dir`) and resolves
 * once it answers PING. Stop it with {@link RedisServer.stop} (e.g. in `afterAll`); any
 * process still alive when the test process ends is SIGKILLed.
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const args = options.args ?? [];
  if (options.port !== undefined) return launchNew(options.port, args);
  // Another process (e.g. a parallel jest worker) may take a free port before redis binds it.
  for (let attempt = 1; ; attempt++) {
    try {
      return await launchNew(await freePort(), args);
    } catch (error) {
      if (!isPortInUse(error) || attempt >= PICKED_PORT_ATTEMPTS) throw error;
    }
  }
}

/** Whether an error from {@link startRedis} or {@link RedisServer.restart} means the port was taken. */
export function isPortInUse(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'EADDRINUSE';
}

async function launchNew(port: number, args: string[]): Promise<RedisServer> {
  if (port === DEFAULT_REDIS_PORT) throw new Error(FORBIDDEN_PORT_MESSAGE);
  const dir = mkdtempSync(join(tmpdir(), 'redis-harness-'));
  registry().dirs.add(dir);
  const server = new RedisProcess(port, args, dir);
  try {
    await server.launch();
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}

/** How a {@link RedisProcess} is launched. */
export interface RedisProcessOptions {
  /** Its name in messages. Default `redis-server`. */
  label?: string;
  /** Prepend the harness's base arguments (port, bind, no persistence, dir). Default true; a Sentinel passes its config file instead. */
  baseArgs?: boolean;
}

/** One `redis-server` child process (a data node, or a Sentinel with `--sentinel`), tracked so nothing outlives the tests. */
export class RedisProcess implements RedisServer {
  readonly host = LOOPBACK;
  readonly url: string;
  private child: ChildProcess | undefined;
  private exited: Promise<unknown> = Promise.resolve();
  private lastPid = 0;
  private log = '';
  private isStalled = false;
  private stopping: Promise<void> | undefined;

  private readonly label: string;

  constructor(
    readonly port: number,
    private readonly args: readonly string[],
    private readonly dir: string,
    private readonly options: RedisProcessOptions = {},
  ) {
    this.url = `redis://${LOOPBACK}:${port}`;
    this.label = options.label ?? 'redis-server';
  }

  get pid(): number {
    return this.lastPid;
  }
  get running(): boolean {
    return this.child !== undefined;
  }
  get stalled(): boolean {
    return this.isStalled;
  }

  output(): string {
    return this.log;
  }

  command(...args: string[]): Promise<RespReply> {
    return sendCommand(this, args);
  }

  async stall(): Promise<void> {
    if (!this.child) throw new Error(`${this.label} on port ${this.port} is not running`);
    if (this.isStalled) return;
    this.child.kill('SIGSTOP');
    this.isStalled = true;
    await waitForStopState(this.lastPid, true);
  }

  async resume(): Promise<void> {
    if (!this.child || !this.isStalled) return;
    this.child.kill('SIGCONT');
    this.isStalled = false;
    await waitForStopState(this.lastPid, false);
  }

  async kill(): Promise<void> {
    if (!this.child) return;
    this.child.kill('SIGKILL');
    await withTimeout(this.exited, EXIT_TIMEOUT_MS, `${this.label} ${this.lastPid} to exit after SIGKILL`);
  }

  async restart(): Promise<void> {
    if (this.stopping) throw new Error(`${this.label} on port ${this.port} was stopped`);
    await this.kill();
    // The port may be briefly busy, e.g. a client of the old process reconnecting from it.
    const deadline = Date.now() + RESTART_BIND_RETRY_MS;
    for (;;) {
      try {
        return await this.launch();
      } catch (error) {
        if (!isPortInUse(error) || Date.now() > deadline) throw error;
        await sleep(100);
      }
    }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.kill();
      rmSync(this.dir, { recursive: true, force: true });
      registry().dirs.delete(this.dir);
    })();
    return this.stopping;
  }

  /** Spawns the process and waits until it, and not some other server on the port, answers. */
  async launch(): Promise<void> {
    const argv = this.options.baseArgs === false ? this.args : [...baseArgs(this.port, this.dir), ...this.args];
    const child = spawn('redis-server', argv, {
      cwd: this.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.lastPid = child.pid ?? 0;
    this.isStalled = false;
    this.log = '';
    const append = (chunk: Buffer) => (this.log = (this.log + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS));
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    const closed = new Promise((resolve) => child.once('close', resolve));
    const ended = new Promise<string>((resolve) => {
      child.once('error', (error) => resolve(`could not be run (${error.message}); is redis-server on PATH?`));
      child.once('exit', (code, signal) => resolve(`exited (${signal ?? `code ${code}`})`));
    });
    this.exited = ended.then(() => {
      if (this.child !== child) return;
      this.child = undefined;
      this.isStalled = false;
    });
    if (child.pid !== undefined) track(child);

    if (await waitUntilAnswering(this, child.pid ?? 0, () => this.child === child)) return;
    const reason = this.child === child ? `did not answer PING within ${STARTUP_TIMEOUT_MS} ms` : await ended;
    await this.kill();
    await Promise.race([closed, sleep(200)]); // lets the last log lines arrive
    const error = new Error(`${this.label} on port ${this.port} ${reason}\n--- its output (tail) ---\n${this.log}`);
    if (this.log.includes('Address already in use')) Object.assign(error, { code: 'EADDRINUSE' });
    throw error;
  }
}

function baseArgs(port: number, dir: string): string[] {
  return [
    ...['--port', String(port), '--bind', LOOPBACK, '--save', '', '--appendonly', 'no'],
    ...['--daemonize', 'no', '--dir', dir, '--protected-mode', 'no'],
  ];
}

async function waitUntilAnswering(address: RedisAddress, pid: number, alive: () => boolean): Promise<boolean> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (alive() && Date.now() < deadline) {
    try {
      if ((await sendCommand(address, ['PING'], PROBE_TIMEOUT_MS)) === 'PONG') {
        // A server another process started on this port would answer too.
        const info = await sendCommand(address, ['INFO', 'server'], PROBE_TIMEOUT_MS);
        if (String(info).includes(`process_id:${pid}\r\n`)) return true;
      }
    } catch {
      // Not listening yet.
    }
    await sleep(POLL_MS);
  }
  return false;
}

/** Lets `stall()`/`resume()` resolve only once the kernel has applied the signal (Linux only). */
async function waitForStopState(pid: number, stopped: boolean): Promise<void> {
  if (process.platform !== 'linux') return;
  const deadline = Date.now() + 2_000;
  while (Date.now() < deadline) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return; // gone
    }
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if ((state === 'T') === stopped) return;
    await sleep(1);
  }
}

/**
 * Sends one command to `address` over a fresh connection and resolves with the first reply;
 * an error reply rejects with its message, no reply within `timeoutMs` rejects too.
 */
export function sendCommand(
  address: RedisAddress,
  args: string[],
  timeoutMs: number = COMMAND_TIMEOUT_MS,
): Promise<RespReply> {
  return new Promise((resolve, reject) => {
    const where = `${address.host}:${address.port}`;
    let received = Buffer.alloc(0);
    let settled = false;
    const settle = (error: Error | undefined, reply?: RespReply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(reply ?? null);
    };
    const timer = setTimeout(
      () => settle(new Error(`no reply to ${args[0]} from ${where} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const socket = connect({ host: address.host, port: address.port });
    socket.on('error', (error) => settle(error));
    socket.on('close', () => settle(new Error(`${where} closed the connection before replying to ${args[0]}`)));
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      const parsed = parseReply(received, 0);
      if (parsed === undefined) return;
      if (parsed.value instanceof Error) settle(parsed.value);
      else settle(undefined, parsed.value);
    });
    socket.write(encodeCommand(args));
  });
}

/** Encodes a command as a RESP array of bulk strings. */
export function encodeCommand(args: readonly string[]): string {
  return `*${args.length}\r\n` + args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('');
}

/** Parses one RESP2 reply at `offset`; undefined when `buffer` does not hold all of it yet. */
function parseReply(buffer: Buffer, offset: number): { value: RespReply | Error; next: number } | undefined {
  const eol = buffer.indexOf('\r\n', offset);
  if (eol < 0) return undefined;
  const line = buffer.toString('utf8', offset + 1, eol);
  const next = eol + 2;
  switch (String.fromCharCode(buffer[offset])) {
    case '+':
      return { value: line, next };
    case '-':
      return { value: new Error(line), next };
    case ':':
      return { value: Number(line), next };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, next };
      if (buffer.length < next + length + 2) return undefined;
      return { value: buffer.toString('utf8', next, next + length), next: next + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, next };
      const items: unknown[] = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buffer, at);
        if (item === undefined) return undefined;
        items.push(item.value);
        at = item.next;
      }
      return { value: items, next: at };
    }
    default:
      throw new Error(`unexpected RESP reply: ${JSON.stringify(buffer.toString('utf8', offset, eol))}`);
  }
}

// --- making sure no redis-server outlives the test process ---

// Jest hands each test file a copy of `process` whose 'exit' event never fires; the host
// context's global is the worker's real process, shared by every test file it runs.
const hostProcess = runInThisContext('process') as NodeJS.Process;
const REGISTRY = Symbol.for('nestjs-redis-shield.test-harness.redis-processes');

interface ProcessRegistry {
  live: Set<ChildProcess>;
  /** Directories of servers not stopped yet. */
  dirs: Set<string>;
  watchdog: ChildProcess | undefined;
}

// An `exit` handler misses a worker killed by a signal (e.g. jest force-exiting it), so a
// detached awk (out of the terminal's process group) also kills whatever pids it still holds
// when its stdin closes, which the kernel does however the test process dies.
const WATCHDOG_SCRIPT =
  '$1=="add"{p[$2]=1} $1=="del"{delete p[$2]} END{for(k in p) system("kill -9 " k " 2>/dev/null")}';

/** Removes `dir` when the test process exits, unless {@link forgetTempDir} was called first. */
export function registerTempDir(dir: string): void {
  registry().dirs.add(dir);
}

/** The caller removed `dir` itself. */
export function forgetTempDir(dir: string): void {
  registry().dirs.delete(dir);
}

function registry(): ProcessRegistry {
  const host = hostProcess as NodeJS.Process & { [REGISTRY]?: ProcessRegistry };
  if (!host[REGISTRY]) {
    const entry: ProcessRegistry = { live: new Set(), dirs: new Set(), watchdog: startWatchdog() };
    host.once('exit', () => {
      for (const child of entry.live) child.kill('SIGKILL');
      for (const dir of entry.dirs) rmSync(dir, { recursive: true, force: true });
    });
    host[REGISTRY] = entry;
  }
  return host[REGISTRY];
}

function startWatchdog(): ChildProcess | undefined {
  const watchdog = spawn('awk', [WATCHDOG_SCRIPT], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  watchdog.on('error', () => {}); // no awk: the exit handler still covers normal exits
  watchdog.stdin?.on('error', () => {});
  unref(watchdog);
  return watchdog;
}

function tell(watchdog: ChildProcess | undefined, line: string): void {
  if (watchdog?.stdin?.writable) watchdog.stdin.write(`${line}\n`);
}

function track(child: ChildProcess): void {
  const { live, watchdog } = registry();
  live.add(child);
  tell(watchdog, `add ${child.pid}`);
  child.once('exit', () => {
    live.delete(child);
    tell(watchdog, `del ${child.pid}`);
  });
  // A server a test forgot to stop must not keep the worker alive: the handlers above kill it.
  unref(child);
}

function unref(child: ChildProcess): void {
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as { unref?: () => void } | null)?.unref?.();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
