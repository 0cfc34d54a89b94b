import type { RedisConnection } from '../../redis/store/redis.connection.js';
import {
  type DashboardCounts,
  type DashboardTally,
  instanceField,
  parseDashboardHash,
} from '../engine/dashboard-counts.js';

/**
 * The budget of a flush, in ms: bookkeeping, never on a request's path, so as generous as
 * the cache statistics' (a busy event loop must not turn it into a timeout).
 */
const FLUSH_TIMEOUT_MS = 5000;
/** The budget of a read for the data endpoint, in ms: a stalled Redis must not stall the page. */
const READ_TIMEOUT_MS = 1000;
/** An instance silent this long is removed from the hash when the dashboard next reads it, in ms. */
export const INSTANCE_FORGET_MS = 60 * 60_000;
/** The hash's TTL, renewed by every flush: a day after the last instance stopped, it is gone. */
export const COUNTS_TTL_MS = 24 * 60 * 60_000;

/**
 * The dashboard's one Redis hash (`dashboard:counts`): every instance adds its counts and
 * its heartbeat once per second in one transaction; the dashboard's data endpoint reads it
 * with one `HGETALL`. One key, so one slot on a Cluster and no key per client or per request;
 * its TTL ({@link COUNTS_TTL_MS}) is renewed by every flush.
 */
export class DashboardStore {
  private readonly key: string;

  constructor(private readonly connection: RedisConnection) {
    this.key = connection.keys.dashboard();
  }

  /** Adds a tally and this instance's heartbeat (`nowMs`, ms since the epoch) in one transaction; never trips the breaker. */
  async add(tally: DashboardTally, instanceId: string, nowMs: number): Promise<void> {
    const { key } = this;
    await this.connection.run(
      async (client) => {
        const transaction = client.multi();
        for (const [field, count] of tally.entries()) transaction.hincrby(key, field, count);
        transaction.hset(key, instanceField(instanceId), nowMs);
        transaction.pexpire(key, COUNTS_TTL_MS);
        const replies = await transaction.exec();
        if (!replies) throw new Error('the dashboard transaction was discarded');
        const failed = replies.find(([error]) => error);
        if (failed) throw failed[0];
      },
      { timeoutMs: FLUSH_TIMEOUT_MS, tripsBreaker: false, command: 'dashboard_add' },
    );
  }

  /**
   * Every instance's counts, summed, and each instance's last heartbeat; heartbeats older
   * than {@link INSTANCE_FORGET_MS} are deleted on the way (instances come and go with
   * deploys, and the hash must not grow with them).
   */
  async read(nowMs: number): Promise<DashboardCounts> {
    const hash = await this.connection.run((client) => client.hgetall(this.key), {
      timeoutMs: READ_TIMEOUT_MS,
      command: 'dashboard_read',
    });
    const counts = parseDashboardHash(hash);
    const gone = Object.entries(counts.instances)
      .filter(([, seenMs]) => nowMs - seenMs > INSTANCE_FORGET_MS)
      .map(([id]) => id);
    if (gone.length > 0) {
      for (const id of gone) delete counts.instances[id];
      await this.connection.run((client) => client.hdel(this.key, ...gone.map(instanceField)), {
        timeoutMs: READ_TIMEOUT_MS,
        tripsBreaker: false,
        command: 'dashboard_prune',
      });
    }
    return counts;
  }
}
