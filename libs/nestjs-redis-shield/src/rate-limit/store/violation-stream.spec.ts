import { shieldErrorCode } from '../../core/errors.js';
import type { RedisConnection } from '../../redis/store/redis.connection.js';
import type { ViolationRecord } from '../engine/violation.js';
import { APPEND_BATCH, ViolationStream } from './violation-stream.js';

/** A connection whose append script records its calls and answers the batch's length. */
function fakeConnection() {
  const calls: (string | number)[][] = [];
  const connection = {
    keys: { violations: () => 'rate_limit:violations' },
    defineScript: () => async (_keys: string[], args: (string | number)[]) => {
      calls.push(args);
      return (args.length - 1) / 8;
    },
  } as unknown as RedisConnection;
  return { connection, calls };
}

const RECORD: ViolationRecord = {
  client: 'ip:abc',
  policy: 'default',
  tier: 'minute',
  route: '/x',
  atMs: 2000,
  firstAtMs: 1000,
  count: 3,
  shadow: false,
};

describe('ViolationStream.append', () => {
  it('sends up to APPEND_BATCH entries in one script call, capped at maxLength', async () => {
    const { connection, calls } = fakeConnection();
    const stream = new ViolationStream(connection, 50);
    expect(await stream.append(Array(APPEND_BATCH).fill(RECORD))).toBe(APPEND_BATCH);
    expect(calls).toHaveLength(1);
    expect(calls[0].slice(0, 9)).toEqual([50, 'ip:abc', 'default', 'minute', '/x', 2000, '0', 3, 1000]);
  });

  it('refuses a larger batch with a RangeError carrying SHIELD_E009, before any Redis call', async () => {
    const { connection, calls } = fakeConnection();
    const error: unknown = await new ViolationStream(connection, 50)
      .append(Array(APPEND_BATCH + 1).fill(RECORD))
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toBe('batch.length must be at most 1000 entries per append, got 1001');
    expect(shieldErrorCode(error)).toBe('SHIELD_E009');
    expect(calls).toEqual([]);
  });
});
