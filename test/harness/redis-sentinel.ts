import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, LOOPBACK } from './ports.js';
import {
  forgetTempDir,
  isPortInUse,
  RedisProcess,
  registerTempDir,
  sendCommand,
  startRedis,
  type RedisAddress,
  type RedisServer,
  type RespReply,
} from './redis-server.js';

const READY_TIMEOUT_MS = 20_000;
const FAILOVER_TIMEOUT_MS = 30_000;
const PROBE_TIMEOUT_MS = 1_000;
const POLL_MS = 50;
const PICKED_PORT_ATTEMPTS = 5;

/** Options of {@link startRedisSentinel}. */
export interface StartRedisSentinelOptions {
  /** The monitored master's name. Default `shield-master`. */
  masterName?: string;
  /** Replicas of the master. Default 1. */
  replicas?: number;
  /** Sentinel processes; the quorum is a majority of them. Default 3. */
  sentinels?: number;
  /** Sentinel `down-after-milliseconds`: silence before a node is subjectively down. Default 1000. */
  downAfterMs?: number;
  /** Sentinel `failover-timeout`, in ms (also the pause between two attempts is twice this). Default 3000. */
  failoverTimeoutMs?: number;
}

/**
 * A `redis-server --sentinel` child process owned by the test, on 127.0.0.1: a
 * {@link RedisServer} whose `restart()` keeps its (rewritten) config, so it keeps what it learnt.
 */
export type SentinelProcess = RedisServer;

/** A master, its replicas and the Sentinels monitoring them, all child processes on 127.0.0.1. */
export interface RedisSentinel {
  /** The name the Sentinels monitor the master under (`sentinelName` for a client). */
  readonly masterName: string;
  /** Every Sentinel's address, to seed a client. */
  readonly sentinels: RedisAddress[];
  /** The data nodes: the initial master first, then the replicas. Roles change on failover. */
  readonly nodes: RedisServer[];
  /** The Sentinel processes, in the order of {@link sentinels}. */
  readonly sentinelProcesses: SentinelProcess[];
  /** The node a running, unstalled Sentinel currently names as master (`SENTINEL get-master-addr-by-name`). */
  master(): Promise<RedisServer>;
  /**
   * Resolves with the new master once every running, unstalled Sentinel names a node other than the one
   * on `fromPort` and that node reports `role:master`; polls every 50 ms.
   */
  waitForFailover(fromPort: number, timeoutMs?: number): Promise<RedisServer>;
  /**
   * Resolves once every Sentinel names the same master, sees every other node as a healthy
   * replica and every other Sentinel, the quorum is reachable (`SENTINEL CKQUORUM`), and every
   * replica reports its link to that master up; all nodes and Sentinels must be running. A node
   * restarted after a failover comes back as an empty master: make it a replica first
   * (`REPLICAOF`), or wait the 10-20 s the Sentinels take to convert it.
   */
  waitUntilReady(timeoutMs?: number): Promise<void>;
  /** Stops the Sentinels, then the nodes, and removes their directories. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a master, `replicas` replicas (`--replicaof`) and `sentinels` Sentinels
 * (`redis-server <conf> --sentinel`, quorum a majority) on free loopback ports, and resolves
 * once the Sentinels agree on the master and see the replicas and each other (about 2-3 s:
 * Sentinels find each other through hello messages sent every 2 s). With the defaults a
 * SIGKILLed master is replaced in about 2-5 s.
 */
export async function startRedisSentinel(options: StartRedisSentinelOptions = {}): Promise<RedisSentinel> {
  const masterName = options.masterName ?? 'shield-master';
  const replicas = options.replicas ?? 1;
  const count = options.sentinels ?? 3;
  if (!/^[A-Za-z0-9._-]+$/.test(masterName)) throw new Error(`masterName must be a plain word: ${masterName}`);
  if (!Number.isInteger(replicas) || replicas < 0) throw new Error(`replicas must be an integer >= 0: ${replicas}`);
  if (!Number.isInteger(count) || count < 1) throw new Error(`sentinels must be a positive integer: ${count}`);
  const config = {
    masterName,
    quorum: Math.floor(count / 2) + 1,
    downAfterMs: options.downAfterMs ?? 1000,
    failoverTimeoutMs: options.failoverTimeoutMs ?? 3000,
  };

  // Redis waits 5 s by default before a diskless full sync, hoping for more replicas.
  const fastSync = ['--repl-diskless-sync-delay', '0'];
  const nodes: RedisServer[] = [];
  const sentinelProcesses: RedisProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'redis-sentinel-harness-'));
  const topology = new Topology(masterName, nodes, sentinelProcesses, dir);
  try {
    registerTempDir(dir);
    nodes.push(await startRedis({ args: fastSync }));
    const master = nodes[0];
    const started = await Promise.allSettled(
      Array.from({ length: replicas }, () =>
        startRedis({ args: [...fastSync, '--replicaof', master.host, String(master.port)] }),
      ),
    );
    for (const result of started) if (result.status === 'fulfilled') nodes.push(result.value);
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    // A Sentinel learns of replicas from the master's INFO, which it asks every 10 s once started.
    await poll(READY_TIMEOUT_MS, 'replicas in sync', async () => {
      for (const replica of nodes.slice(1)) {
        const info = String(await sendCommand(replica, ['INFO', 'replication'], PROBE_TIMEOUT_MS));
        if (!info.includes('master_link_status:up')) return `replica ${replica.port}'s link is not up`;
      }
      return undefined;
    });
    for (let i = 0; i < count; i++)
      sentinelProcesses.push(await startSentinel(join(dir, `sentinel-${i}`), master, config));
    await topology.waitUntilReady();
  } catch (error) {
    await topology.stop();
    throw error;
  }
  return topology;
}

interface SentinelConfig {
  masterName: string;
  quorum: number;
  downAfterMs: number;
  failoverTimeoutMs: number;
}

async function startSentinel(dir: string, master: RedisAddress, config: SentinelConfig): Promise<RedisProcess> {
  for (let attempt = 1; ; attempt++) {
    const node = sentinelNode(await freePort(), dir, master, config);
    try {
      await node.launch();
      return node;
    } catch (error) {
      await node.stop();
      if (!isPortInUse(error) || attempt >= PICKED_PORT_ATTEMPTS) throw error;
    }
  }
}

/** Writes a Sentinel's config and makes its process (not started). */
function sentinelNode(port: number, dir: string, master: RedisAddress, config: SentinelConfig): RedisProcess {
  const configFile = join(dir, 'sentinel.conf');
  const { masterName, quorum, downAfterMs, failoverTimeoutMs } = config;
  // Sentinel rewrites this file with what it learns (peers, replicas, epochs), so a restart keeps it.
  writeConfig(dir, configFile, [
    `port ${port}`,
    `bind ${LOOPBACK}`,
    'protected-mode no',
    'daemonize no',
    `dir ${dir}`,
    `sentinel monitor ${masterName} ${master.host} ${master.port} ${quorum}`,
    `sentinel down-after-milliseconds ${masterName} ${downAfterMs}`,
    `sentinel failover-timeout ${masterName} ${failoverTimeoutMs}`,
    `sentinel parallel-syncs ${masterName} 1`,
  ]);
  // The config file must be the first argument of redis-server.
  return new RedisProcess(port, [configFile, '--sentinel'], dir, { label: 'redis-sentinel', baseArgs: false });
}

function writeConfig(dir: string, file: string, lines: string[]): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  writeFileSync(file, lines.join('\n') + '\n');
}

class Topology implements RedisSentinel {
  private stopping: Promise<void> | undefined;

  constructor(
    readonly masterName: string,
    readonly nodes: RedisServer[],
    readonly sentinelProcesses: RedisProcess[],
    private readonly dir: string,
  ) {}

  get sentinels(): RedisAddress[] {
    return this.sentinelProcesses.map(({ host, port }) => ({ host, port }));
  }

  async master(): Promise<RedisServer> {
    for (const sentinel of this.answering()) {
      let port: number;
      try {
        port = await this.masterPortSeenBy(sentinel);
      } catch {
        continue; // ask the next Sentinel
      }
      const node = this.nodes.find((candidate) => candidate.port === port);
      if (!node) throw new Error(`Sentinel ${sentinel.port} names an unknown master on port ${port}`);
      return node;
    }
    throw new Error('no Sentinel answered SENTINEL get-master-addr-by-name');
  }

  async waitForFailover(fromPort: number, timeoutMs: number = FAILOVER_TIMEOUT_MS): Promise<RedisServer> {
    let promoted: RedisServer | undefined;
    await poll(timeoutMs, 'failover', async () => {
      const running = this.answering();
      if (running.length === 0) return 'no running, unstalled Sentinel';
      const ports = new Set(await Promise.all(running.map((sentinel) => this.masterPortSeenBy(sentinel))));
      if (ports.size > 1) return `Sentinels disagree on the master: ${[...ports].join(', ')}`;
      const [port] = ports;
      if (port === fromPort) return `Sentinels still name ${fromPort}`;
      const node = this.nodes.find((candidate) => candidate.port === port);
      if (!node) return `Sentinels name an unknown master on port ${port}`;
      const role = String(await sendCommand(node, ['INFO', 'replication'], PROBE_TIMEOUT_MS));
      if (!role.includes('role:master\r\n')) return `${port} does not report role:master yet`;
      promoted = node;
      return undefined;
    });
    return promoted!;
  }

  waitUntilReady(timeoutMs: number = READY_TIMEOUT_MS): Promise<void> {
    return poll(timeoutMs, 'Sentinel topology ready', () => this.unreadyReason());
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      // Sentinels first, so none reconfigures a node that is going away.
      await Promise.all(this.sentinelProcesses.map((sentinel) => sentinel.stop()));
      await Promise.all(this.nodes.map((node) => node.stop()));
      rmSync(this.dir, { recursive: true, force: true });
      forgetTempDir(this.dir);
    })();
    return this.stopping;
  }

  /** The Sentinels that can answer: running and not stalled. */
  private answering(): RedisProcess[] {
    return this.sentinelProcesses.filter((sentinel) => sentinel.running && !sentinel.stalled);
  }

  private async masterPortSeenBy(sentinel: RedisAddress): Promise<number> {
    const reply = await sendCommand(
      sentinel,
      ['SENTINEL', 'get-master-addr-by-name', this.masterName],
      PROBE_TIMEOUT_MS,
    );
    if (!Array.isArray(reply) || reply.length !== 2) throw new Error(`unexpected reply: ${JSON.stringify(reply)}`);
    return Number(reply[1]);
  }

  private async unreadyReason(): Promise<string | undefined> {
    const masterPorts = new Set<number>();
    for (const sentinel of this.sentinelProcesses) {
      const at = `Sentinel ${sentinel.port}`;
      const master = fields(await sentinel.command('SENTINEL', 'MASTER', this.masterName));
      if (master.flags !== 'master') return `${at} flags the master ${master.flags}`;
      masterPorts.add(Number(master.port));
      const others = Number(master['num-other-sentinels']);
      if (others !== this.sentinelProcesses.length - 1) return `${at} knows ${others} other Sentinels`;
      const seen = ((await sentinel.command('SENTINEL', 'REPLICAS', this.masterName)) as unknown[]).map((entry) =>
        fields(entry as RespReply),
      );
      for (const { port } of this.nodes.filter((node) => node.port !== Number(master.port))) {
        const replica = seen.find((entry) => Number(entry.port) === port);
        if (!replica) return `${at} does not see replica ${port}`;
        if (replica.flags !== 'slave') return `${at} flags replica ${port} ${replica.flags}`;
      }
      try {
        await sentinel.command('SENTINEL', 'CKQUORUM', this.masterName);
      } catch (error) {
        return `${at}: ${(error as Error).message}`;
      }
    }
    if (masterPorts.size !== 1) return `Sentinels disagree on the master: ${[...masterPorts].join(', ')}`;
    const [masterPort] = masterPorts;
    // The replicas' own view: a Sentinel refreshes its copy of it only every 10 s.
    for (const replica of this.nodes.filter((node) => node.port !== masterPort)) {
      const info = String(await sendCommand(replica, ['INFO', 'replication'], PROBE_TIMEOUT_MS));
      if (!info.includes(`master_port:${masterPort}\r\n`)) return `${replica.port} does not replicate ${masterPort}`;
      if (!info.includes('master_link_status:up')) return `replica ${replica.port}'s link is not up`;
    }
    return undefined;
  }
}

/** A flat `[name, value, name, value, ...]` reply as an object. */
function fields(reply: RespReply): Record<string, string> {
  const list = Array.isArray(reply) ? reply : [];
  const result: Record<string, string> = {};
  for (let i = 0; i + 1 < list.length; i += 2) result[String(list[i])] = String(list[i + 1]);
  return result;
}

/** Polls `check` until it returns undefined or `timeoutMs` passes; rejections count as not ready. */
async function poll(timeoutMs: number, what: string, check: () => Promise<string | undefined>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let reason: string | undefined;
    try {
      reason = await check();
    } catch (error) {
      reason = (error as Error).message;
    }
    if (reason === undefined) return;
    if (Date.now() > deadline) throw new Error(`${what}: not reached after ${timeoutMs} ms: ${reason}`);
    await sleep(POLL_MS);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
