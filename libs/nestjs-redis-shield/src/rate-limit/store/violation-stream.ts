import { messages, withCode } from '../../core/errors.js';
import type { RedisConnection, ScriptRunner } from '../../redis/store/redis.connection.js';
import type { ViolationRecord } from '../engine/violation.js';
import { VIOLATIONS_APPEND_LUA } from './lua/violations-append.lua.js';

/** Most entries one script call appends (keeps ARGV and the script's run time small). */
export const APPEND_BATCH = 1000;
/** Entries read per XREVRANGE page. */
const PAGE = 500;
/**
 * Slack between an entry's stream id (Redis time of the flush) and its own time: entries
 * decided by the fallback carry the app's clock, which may run ahead of Redis.
 */
const CLOCK_SLACK_MS = 60_000;
/** Budget of one stream call outside a request, in ms. */
const STREAM_TIMEOUT_MS = 2000;

/**
 * The capped Redis Stream of rate-limit violations (`rate_limit:violations`): appended in
 * batches by the recorder, one entry per client, policy, tier, route and shadow flag per
 * flush interval with its count; read newest first by the system API. The only key
 * without a TTL besides the cache statistics: its length is capped instead.
 */
export class ViolationStream {
  private readonly appendScript: ScriptRunner<number>;
  /** The stream's key, with the connection's prefix. */
  readonly key: string;

  /**
   * Registers the append script on `connection`.
   *
   * @param maxLength Most entries the stream keeps (trimmed on append, oldest first).
   */
  constructor(
    private readonly connection: RedisConnection,
    private readonly maxLength: number,
  ) {
    this.appendScript = connection.defineScript<number>('violations_append', VIOLATIONS_APPEND_LUA);
    this.key = connection.keys.violations();
  }

  /** Appends up to {@link APPEND_BATCH} entries in one script call. Never trips the breaker. */
  async append(batch: readonly ViolationRecord[]): Promise<number> {
    if (batch.length > APPEND_BATCH) {
      const expected = `at most ${APPEND_BATCH} entries per append`;
      throw withCode(
        new RangeError(messages.invalidArgument('batch.length', batch.length, expected)),
        'invalidArgument',
      );
    }
    const args: (string | number)[] = [this.maxLength];
    for (const { client, policy, tier, route, atMs, shadow, count, firstAtMs } of batch) {
      args.push(client, policy, tier, route, atMs, shadow ? '1' : '0', count, firstAtMs);
    }
    return this.appendScript([this.key], args, { timeoutMs: STREAM_TIMEOUT_MS, tripsBreaker: false });
  }

  /**
   * The newest entries whose last violation is at or after `sinceMs` (ms since the epoch),
   * newest first, at most `limit`.
   */
  async recent({ sinceMs = 0, limit }: { sinceMs?: number; limit: number }): Promise<ViolationRecord[]> {
    const found: ViolationRecord[] = [];
    const lowest = Math.max(0, sinceMs - CLOCK_SLACK_MS);
    let end = '+';
    for (;;) {
      const page = await this.connection.run(
        (client) => client.xrevrange(this.key, end, String(lowest), 'COUNT', PAGE),
        { timeoutMs: STREAM_TIMEOUT_MS, command: 'violations_read' },
      );
      for (const [, fields] of page) {
        const violation = parse(fields);
        if (violation && violation.atMs >= sinceMs) found.push(violation);
      }
      if (found.length >= limit || page.length < PAGE) break;
      end = `(${page[page.length - 1][0]}`;
    }
    return found.sort((a, b) => b.atMs - a.atMs).slice(0, limit);
  }
}

/** One stream entry; entries written before counts existed (no `n`, no `f`) stand for one violation. */
function parse(fields: string[]): ViolationRecord | undefined {
  const value: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) value[fields[i]] = fields[i + 1];
  const atMs = Number(value.ts);
  if (!value.c || !Number.isFinite(atMs)) return undefined;
  const count = Number(value.n ?? 1);
  const firstAtMs = Number(value.f ?? atMs);
  return {
    client: value.c,
    policy: value.p ?? '',
    tier: value.t ?? '',
    route: value.r ?? 'unknown',
    atMs,
    firstAtMs: Number.isFinite(firstAtMs) ? firstAtMs : atMs,
    count: Number.isSafeInteger(count) && count > 0 ? count : 1,
    shadow: value.s === '1',
  };
}
