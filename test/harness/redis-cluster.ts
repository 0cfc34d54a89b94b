import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { freePort } from './ports.js';
import { isPortInUse, sendCommand, startRedis, type RedisAddress, type RedisServer } from './redis-server.js';

const BUS_PORT_OFFSET = 10_000;
const TOTAL_SLOTS = 16_384;
const READY_TIMEOUT_MS = 20_000;
const POLL_MS = 50;
const PROBE_TIMEOUT_MS = 1_000;
const NODE_START_ATTEMPTS = 5;
const UNHEALTHY_FLAGS = ['fail', 'fail?', 'handshake', 'noaddr'];

const run = promisify(execFile);

/** Options of {@link startRedisCluster}. */
export interface StartRedisClusterOptions {
  /** Masters, sharing the slots evenly; 3 by default. */
  masters?: number;
  /** Replicas of each master; 0 by default. */
  replicasPerMaster?: number;
  /**
   * How the nodes are joined: `redis-cli --cluster create` (the default with 3+ masters when
   * redis-cli is on PATH) or plain CLUSTER ADDSLOTSRANGE/MEET/REPLICATE commands.
   */
  via?: 'redis-cli' | 'commands';
}

/** A Redis Cluster of `redis-server` child processes on 127.0.0.1. */
export interface RedisCluster {
  /** Every node, masters first as created; roles may change on failover, see {@link RedisCluster.masters}. */
  readonly nodes: RedisServer[];
  /** Every node's address, to seed a client. */
  readonly seeds: RedisAddress[];
  /** The nodes currently serving slots, as a running, unstalled node sees them (CLUSTER NODES). */
  masters(): Promise<RedisServer[]>;
  /** The nodes currently replicating a master, as a running, unstalled node sees them. */
  replicas(): Promise<RedisServer[]>;
  /**
   * Resolves once every node reports `cluster_state:ok`, all agree on nodes, roles and slots, and
   * every replica's link to its master is up (all nodes must be running); polls every 50 ms.
   */
  waitUntilReady(timeoutMs?: number): Promise<void>;
  /** Stops every node. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts `masters × (1 + replicasPerMaster)` cluster-enabled `redis-server`s (each with its bus
 * port free), joins them and resolves once the cluster is ready. A fresh master only reports
 * `cluster_state:ok` about 2 s after it started (Redis's rejoin delay), which bounds start time.
 */
export async function startRedisCluster(options: StartRedisClusterOptions = {}): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  const replicasPerMaster = options.replicasPerMaster ?? 0;
  if (!Number.isInteger(masters) || masters < 1) throw new Error(`masters must be a positive integer: ${masters}`);
  if (!Number.isInteger(replicasPerMaster) || replicasPerMaster < 0) {
    throw new Error(`replicasPerMaster must be a non-negative integer: ${replicasPerMaster}`);
  }
  const started = await Promise.allSettled(Array.from({ length: masters * (1 + replicasPerMaster) }, startNode));
  const cluster = new Cluster(started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : [])));
  try {
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    const via = options.via ?? (masters >= 3 && (await hasRedisCli()) ? 'redis-cli' : 'commands');
    if (via === 'redis-cli') await createWithRedisCli(cluster.nodes, replicasPerMaster);
    else await createWithCommands(cluster.nodes, masters);
    await cluster.waitUntilReady();
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

async function startNode(): Promise<RedisServer> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort({ alsoFree: (candidate) => [candidate + BUS_PORT_OFFSET] });
    const args = [
      ...['--cluster-enabled', 'yes', '--cluster-node-timeout', '1000', '--cluster-config-file', `nodes-${port}.conf`],
      // Redis waits 5 s by default before a diskless full sync, hoping for more replicas.
      ...['--repl-diskless-sync-delay', '0'],
    ];
    try {
      return await startRedis({ port, args });
    } catch (error) {
      if (!isPortInUse(error) || attempt >= NODE_START_ATTEMPTS) throw error;
    }
  }
}

let redisCliAvailable: Promise<boolean> | undefined;

function hasRedisCli(): Promise<boolean> {
  redisCliAvailable ??= run('redis-cli', ['--version']).then(
    () => true,
    () => false,
  );
  return redisCliAvailable;
}

async function createWithRedisCli(nodes: RedisServer[], replicasPerMaster: number): Promise<void> {
  const addresses = nodes.map((node) => `${node.host}:${node.port}`);
  const args = ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicasPerMaster), '--cluster-yes'];
  try {
    await run('redis-cli', args, { timeout: READY_TIMEOUT_MS });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`redis-cli ${args.join(' ')} failed: ${(error as Error).message}\n${stdout}${stderr}`, {
      cause: error,
    });
  }
}

async function createWithCommands(nodes: RedisServer[], masters: number): Promise<void> {
  const primaries = nodes.slice(0, masters);
  await Promise.all(
    primaries.map((node, i) => {
      const first = Math.floor((i * TOTAL_SLOTS) / masters);
      const last = Math.floor(((i + 1) * TOTAL_SLOTS) / masters) - 1;
      return node.command('CLUSTER', 'ADDSLOTSRANGE', String(first), String(last));
    }),
  );
  // Distinct epochs before the nodes meet, as redis-cli does, so gossip has no collision to resolve.
  await Promise.all(nodes.map((node, i) => node.command('CLUSTER', 'SET-CONFIG-EPOCH', String(i + 1))));
  await Promise.all(nodes.slice(1).map((node) => nodes[0].command('CLUSTER', 'MEET', node.host, String(node.port))));
  const ids = (await Promise.all(primaries.map((node) => node.command('CLUSTER', 'MYID')))).map(String);
  await Promise.all(
    nodes.slice(masters).map(async (replica, i) => {
      const masterId = ids[i % masters];
      // A node can only replicate a master it has learnt of through gossip.
      await poll(READY_TIMEOUT_MS, async () =>
        String(await replica.command('CLUSTER', 'NODES')).includes(masterId)
          ? undefined
          : `${replica.port} does not know ${masterId} yet`,
      );
      await replica.command('CLUSTER', 'REPLICATE', masterId);
    }),
  );
}

class Cluster implements RedisCluster {
  readonly seeds: RedisAddress[];
  private stopping: Promise<void> | undefined;

  constructor(readonly nodes: RedisServer[]) {
    this.seeds = nodes.map(({ host, port }) => ({ host, port }));
  }

  async masters(): Promise<RedisServer[]> {
    const entries = parseClusterNodes(await this.clusterNodes());
    return this.nodesAt(entries.filter((entry) => entry.flags.includes('master') && entry.slots.length > 0));
  }

  async replicas(): Promise<RedisServer[]> {
    return this.nodesAt(parseClusterNodes(await this.clusterNodes()).filter((entry) => entry.flags.includes('slave')));
  }

  waitUntilReady(timeoutMs: number = READY_TIMEOUT_MS): Promise<void> {
    return poll(timeoutMs, () => this.unreadyReason());
  }

  stop(): Promise<void> {
    this.stopping ??= Promise.all(this.nodes.map((node) => node.stop())).then(() => undefined);
    return this.stopping;
  }

  private nodesAt(entries: ClusterNodeEntry[]): RedisServer[] {
    const healthy = entries.filter((entry) => !entry.flags.some((flag) => UNHEALTHY_FLAGS.includes(flag)));
    return this.nodes.filter((node) => healthy.some((entry) => entry.port === node.port));
  }

  private async clusterNodes(): Promise<string> {
    for (const node of this.nodes.filter((candidate) => candidate.running && !candidate.stalled)) {
      try {
        return String(await sendCommand(node, ['CLUSTER', 'NODES'], PROBE_TIMEOUT_MS));
      } catch {
        // Ask the next node.
      }
    }
    throw new Error('no cluster node answered CLUSTER NODES');
  }

  /** Why the cluster is not ready yet, or undefined when it is. */
  private async unreadyReason(): Promise<string | undefined> {
    const views = await Promise.all(
      this.nodes.map(async (node) => {
        const info = String(await sendCommand(node, ['CLUSTER', 'INFO'], PROBE_TIMEOUT_MS));
        if (!info.includes('cluster_state:ok')) return `node ${node.port} reports ${info.split('\r\n')[0]}`;
        const entries = parseClusterNodes(String(await sendCommand(node, ['CLUSTER', 'NODES'], PROBE_TIMEOUT_MS)));
        const unhealthy = entries.find((entry) => entry.flags.some((flag) => UNHEALTHY_FLAGS.includes(flag)));
        if (unhealthy) return `node ${node.port} sees ${unhealthy.port} as ${unhealthy.flags.join(',')}`;
        if (entries.length !== this.nodes.length) return `node ${node.port} knows ${entries.length} nodes`;
        if (entries.find((entry) => entry.flags.includes('myself'))?.flags.includes('slave')) {
          const replication = String(await sendCommand(node, ['INFO', 'replication'], PROBE_TIMEOUT_MS));
          if (!replication.includes('master_link_status:up')) return `replica ${node.port}'s link is not up`;
        }
        return { signature: entries.map(describe).sort().join('\n') };
      }),
    );
    const reason = views.find((view) => typeof view === 'string');
    if (reason !== undefined) return reason;
    const signatures = new Set(views.map((view) => (view as { signature: string }).signature));
    return signatures.size === 1 ? undefined : 'nodes disagree on roles or slots';
  }
}

interface ClusterNodeEntry {
  id: string;
  port: number;
  flags: string[];
  masterId: string;
  slots: string[];
}

/** Parses `CLUSTER NODES`: `<id> <ip:port@cport[,hostname]> <flags> <master> <ping> <pong> <epoch> <link> <slot>...`. */
function parseClusterNodes(text: string): ClusterNodeEntry[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [id, address, flags, masterId, , , , , ...slots] = line.trim().split(' ');
      const port = Number(address.split('@')[0].split(':').at(-1));
      // `[slot->-id]` entries are migrations in progress, not ownership.
      return { id, port, flags: flags.split(','), masterId, slots: slots.filter((slot) => !slot.startsWith('[')) };
    });
}

/** What every node must agree on about one node. */
function describe(entry: ClusterNodeEntry): string {
  const role = entry.flags.includes('master') ? 'master' : 'slave';
  return `${entry.id} ${entry.port} ${role} ${entry.masterId} ${entry.slots.join(',')}`;
}

/** Polls `check` every 50 ms until it returns undefined (ready) or `timeoutMs` passes; rejections count as not ready. */
async function poll(timeoutMs: number, check: () => Promise<string | undefined>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let reason: string | undefined;
    try {
      reason = await check();
    } catch (error) {
      reason = (error as Error).message;
    }
    if (reason === undefined) return;
    if (Date.now() > deadline) throw new Error(`Redis Cluster not ready after ${timeoutMs} ms: ${reason}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
