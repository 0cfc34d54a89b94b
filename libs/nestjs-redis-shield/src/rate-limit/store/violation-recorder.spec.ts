import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { CaptureLogger } from '../../../../../test/support/capture-logger.js';
import { ShieldEvents } from '../../core/events/shield-events.js';
import type { RateLimitDecisionEvent } from '../engine/rate-limit.events.js';
import { KeyBuilder } from '../../redis/engine/key-builder.js';
import type { ResolvedViolationOptions, Violation, ViolationRecord } from '../engine/violation.js';
import { ViolationRecorder } from './violation-recorder.js';
import type { ViolationStream } from './violation-stream.js';

type Append = (batch: readonly ViolationRecord[]) => Promise<number>;

const OPTIONS: ResolvedViolationOptions = {
  stream: true,
  maxLength: 10_000,
  flushIntervalMs: 1000,
  maxBuffered: 10_000,
  sampleRate: 1,
  log: false,
};

interface DecisionInput {
  allowed?: boolean;
  clientId?: string;
  route?: string | undefined;
  policy?: string;
  tier?: string;
  nowMs?: number;
}

/** A guard decision as the rate limiter emits it; `nowMs` doubles as a sequence number in the tests. */
function decision(input: DecisionInput = {}): RateLimitDecisionEvent {
  const allowed = input.allowed ?? false;
  return {
    clientId: input.clientId ?? 'ip:203.0.113.7',
    route: 'route' in input ? input.route : '/api/v1/models/:id',
    fallback: false,
    result: {
      allowed,
      limit: 10,
      remaining: allowed ? 5 : 0,
      resetMs: 60_000,
      retryAfterMs: allowed ? 0 : 1500,
      policy: input.policy ?? 'default',
      tier: input.tier ?? 'minute',
      nowMs: input.nowMs ?? 1_700_000_000_000,
      tiers: [],
    },
  };
}

function setup(options: Partial<ResolvedViolationOptions> = {}, append?: Append) {
  const events = new ShieldEvents();
  const keys = new KeyBuilder({ prefix: '', hashSecret: 'x' });
  const appendMock = jest.fn<Append>(append ?? (async (batch) => batch.length));
  const stream = { append: appendMock } as unknown as ViolationStream;
  const recorder = new ViolationRecorder({ ...OPTIONS, ...options }, keys, events, stream);
  const drops: number[] = [];
  events.on('ratelimit.violations.dropped', ({ count }) => drops.push(count));
  /**
   * Emits `count` rejections whose `atMs` are `from`, `from + 1`, ..., each of its own
   * client (`ip:10.0.x.y` numbered by `atMs`): one stream entry each, as ordering and
   * batching are about entries. Rejections of one client are counted in one entry (see
   * 'counting per client and interval').
   */
  const reject = (count: number, from = 0) => {
    for (let n = from; n < from + count; n++) {
      events.emit('ratelimit.decision', decision({ clientId: `ip:10.0.${(n >> 8) & 255}.${n & 255}`, nowMs: n }));
    }
  };
  /** Emits `count` rejections of one client (by decision input), at `atMs` from `from` on. */
  const rejectAs = (input: DecisionInput, count: number, from = 0) => {
    for (let i = 0; i < count; i++) events.emit('ratelimit.decision', decision({ ...input, nowMs: from + i }));
  };
  /** The `atMs` of every appended violation, one array per append call. */
  const batches = () => appendMock.mock.calls.map(([batch]) => batch.map((violation) => violation.atMs));
  /** Every appended entry as `[client, count, firstAtMs, atMs]`, one array per append call. */
  const entries = () =>
    appendMock.mock.calls.map(([batch]) =>
      batch.map(({ client, count, firstAtMs, atMs }) => [client, count, firstAtMs, atMs]),
    );
  return { events, keys, append: appendMock, recorder, drops, reject, rejectAs, batches, entries };
}

function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}

/** A promise settled from outside, to hold an append in flight. */
function deferred() {
  let resolve!: (value: number) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<number>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

let logger: CaptureLogger;

beforeEach(() => {
  jest.useFakeTimers();
  logger = new CaptureLogger();
  Logger.overrideLogger(logger);
});

afterEach(() => {
  jest.clearAllTimers();
  jest.useRealTimers();
  jest.restoreAllMocks();
});

describe('ViolationRecorder', () => {
  describe('turning decisions into violations', () => {
    it("records a shadow policy's would-be rejection with shadow: true, in the stream, the log and the event", async () => {
      const { events, recorder, append } = setup({ log: { lines: 10, intervalMs: 10_000 } });
      const seen: Violation[] = [];
      events.on('ratelimit.violation', (violation) => seen.push(violation));
      const tier = (policy: string, name: string, allowed: boolean, retryAfterMs: number, shadow = true) => ({
        policy,
        tier: name,
        limit: 5,
        windowMs: 60_000,
        shadow,
        allowed,
        remaining: 0,
        resetMs: 60_000,
        retryAfterMs,
      });
      const admitted = decision({ allowed: true, nowMs: 7 });
      admitted.result.tiers = [
        tier('default', 'minute', true, 0, false),
        tier('trial', 'minute', false, 1000),
        tier('trial', 'hour', false, 9000),
        tier('other', 'minute', true, 0),
      ];
      events.emit('ratelimit.decision', admitted);
      await recorder.flush();
      const [[batch]] = append.mock.calls;
      // One violation per shadow policy that would reject, by its tier with the longest wait.
      expect(batch).toEqual([
        expect.objectContaining({ policy: 'trial', tier: 'hour', atMs: 7, firstAtMs: 7, count: 1, shadow: true }),
      ]);
      expect(seen).toEqual([
        { client: batch[0].client, policy: 'trial', tier: 'hour', route: batch[0].route, atMs: 7, shadow: true },
      ]);
      const lines = logger.of('RateLimit').map((line) => line.message);
      expect(lines).toEqual([expect.stringMatching(/shadow policy.*policy=trial tier=hour .*shadow=true$/)]);
    });

    it('records both an enforced rejection and a shadow one of the same request', async () => {
      const { events, recorder, append } = setup();
      const rejected = decision({ allowed: false, policy: 'default', tier: 'burst', nowMs: 8 });
      rejected.result.tiers = [
        { ...rejected.result, tier: 'burst', windowMs: 10_000, shadow: false, allowed: false } as never,
        {
          policy: 'trial',
          tier: 'minute',
          limit: 1,
          windowMs: 60_000,
          shadow: true,
          allowed: false,
          remaining: 0,
          resetMs: 1,
          retryAfterMs: 1,
        },
      ];
      events.emit('ratelimit.decision', rejected);
      await recorder.flush();
      const [[batch]] = append.mock.calls;
      expect(batch.map(({ policy, tier, shadow }) => [policy, tier, shadow])).toEqual([
        ['default', 'burst', false],
        ['trial', 'minute', true],
      ]);
    });

    it('ignores allowed decisions', async () => {
      const { events, recorder, append } = setup();
      events.emit('ratelimit.decision', decision({ allowed: true }));
      expect(recorder.buffered).toBe(0);
      await recorder.flush();
      expect(append).not.toHaveBeenCalled();
    });

    it('keeps kind and HMAC of the client, policy, tier, route and the decision time, never the raw id', async () => {
      const { events, keys, recorder, append } = setup();
      events.emit('ratelimit.decision', decision({ clientId: 'ip:203.0.113.7', policy: 'p', tier: 't', nowMs: 123 }));
      events.emit('ratelimit.decision', decision({ clientId: 'user:alice@example.com', route: '/b/:id', nowMs: 124 }));
      await recorder.flush();
      const [[batch]] = append.mock.calls;
      expect(batch).toEqual([
        {
          client: `ip:${keys.hashId('ip:203.0.113.7')}`,
          policy: 'p',
          tier: 't',
          route: '/api/v1/models/:id',
          atMs: 123,
          firstAtMs: 123,
          count: 1,
          shadow: false,
        },
        {
          client: `user:${keys.hashId('user:alice@example.com')}`,
          policy: 'default',
          tier: 'minute',
          route: '/b/:id',
          atMs: 124,
          firstAtMs: 124,
          count: 1,
          shadow: false,
        },
      ]);
      expect(batch[0].client).toMatch(/^ip:[A-Za-z0-9_-]{22}$/);
      expect(batch[1].client).toMatch(/^user:[A-Za-z0-9_-]{22}$/);
      const text = JSON.stringify(batch);
      expect(text).not.toContain('203.0.113.7');
      expect(text).not.toContain('alice');
    });

    it("records an unknown route as 'unknown' and an id without a kind as 'client'", async () => {
      const { events, keys, recorder, append } = setup();
      events.emit('ratelimit.decision', decision({ clientId: 'tenant-7', route: undefined }));
      await recorder.flush();
      expect(append.mock.calls[0][0]).toEqual([
        expect.objectContaining({ client: `client:${keys.hashId('tenant-7')}`, route: 'unknown' }),
      ]);
    });
  });

  describe('counting per client and interval', () => {
    const ATTACKER = { clientId: 'ip:198.51.100.66' };
    const VICTIM = { clientId: 'ip:203.0.113.7' };

    it('appends one entry per client, policy, tier, route and shadow flag, with its count and first and last time', async () => {
      const { events, keys, recorder, append, rejectAs } = setup();
      rejectAs(ATTACKER, 4, 100);
      rejectAs({ ...ATTACKER, tier: 'hour' }, 2, 200);
      rejectAs({ ...ATTACKER, route: '/other' }, 1, 300);
      rejectAs({ ...ATTACKER, policy: 'strict' }, 1, 400);
      rejectAs(VICTIM, 3, 500);
      rejectAs(ATTACKER, 2, 600); // the first group again: counted in its entry
      const shadowed = decision({ ...ATTACKER, allowed: true, nowMs: 700 });
      shadowed.result.tiers = [
        {
          policy: 'default',
          tier: 'minute',
          limit: 1,
          windowMs: 60_000,
          shadow: true,
          allowed: false,
          remaining: 0,
          resetMs: 1,
          retryAfterMs: 1,
        },
      ];
      events.emit('ratelimit.decision', shadowed); // same client, policy, tier, route: shadow is its own entry
      expect(recorder.buffered).toBe(6);
      await recorder.flush();
      const attacker = `ip:${keys.hashId(ATTACKER.clientId)}`;
      const victim = `ip:${keys.hashId(VICTIM.clientId)}`;
      const route = '/api/v1/models/:id';
      const fields = ({ client, policy, tier, route, shadow, count, firstAtMs, atMs }: ViolationRecord) => ({
        ...{ client, policy, tier, route, shadow, count, firstAtMs, atMs },
      });
      expect(append.mock.calls[0][0].map(fields)).toEqual([
        {
          client: attacker,
          policy: 'default',
          tier: 'minute',
          route,
          shadow: false,
          count: 6,
          firstAtMs: 100,
          atMs: 601,
        },
        {
          client: attacker,
          policy: 'default',
          tier: 'hour',
          route,
          shadow: false,
          count: 2,
          firstAtMs: 200,
          atMs: 201,
        },
        {
          client: attacker,
          policy: 'default',
          tier: 'minute',
          route: '/other',
          shadow: false,
          count: 1,
          firstAtMs: 300,
          atMs: 300,
        },
        {
          client: attacker,
          policy: 'strict',
          tier: 'minute',
          route,
          shadow: false,
          count: 1,
          firstAtMs: 400,
          atMs: 400,
        },
        {
          client: victim,
          policy: 'default',
          tier: 'minute',
          route,
          shadow: false,
          count: 3,
          firstAtMs: 500,
          atMs: 502,
        },
        {
          client: attacker,
          policy: 'default',
          tier: 'minute',
          route,
          shadow: true,
          count: 1,
          firstAtMs: 700,
          atMs: 700,
        },
      ]);
    });

    it('keeps the earliest and latest time when decisions arrive out of order', async () => {
      const { events, recorder, entries } = setup();
      for (const nowMs of [50, 20, 90, 40]) events.emit('ratelimit.decision', decision({ ...ATTACKER, nowMs }));
      await recorder.flush();
      expect(entries()).toEqual([[[expect.any(String), 4, 20, 90]]]);
    });

    it("a flood of one client cannot crowd out another's violations: the buffer holds groups, not requests", async () => {
      const { recorder, rejectAs, drops, entries, keys } = setup({ maxBuffered: 2, flushIntervalMs: 60_000 });
      rejectAs(VICTIM, 1, 0);
      rejectAs(ATTACKER, 10_500, 1);
      rejectAs(VICTIM, 2, 20_000);
      expect(recorder.buffered).toBe(2);
      expect(drops).toEqual([]);
      await recorder.flush();
      expect(entries()).toEqual([
        [
          [`ip:${keys.hashId(VICTIM.clientId)}`, 3, 0, 20_001],
          [`ip:${keys.hashId(ATTACKER.clientId)}`, 10_500, 1, 10_500],
        ],
      ]);
    });

    it('starts fresh entries with every flush interval', async () => {
      const { rejectAs, entries } = setup({ flushIntervalMs: 1000 });
      rejectAs(ATTACKER, 5, 0);
      await jest.advanceTimersByTimeAsync(1000);
      rejectAs(ATTACKER, 3, 1000);
      await jest.advanceTimersByTimeAsync(1000);
      expect(entries()).toEqual([[[expect.any(String), 5, 0, 4]], [[expect.any(String), 3, 1000, 1002]]]);
    });

    it('counts what arrives during a flush for the next one, even for a group being written', async () => {
      const held = deferred();
      const { recorder, append, rejectAs, entries } = setup({}, () => held.promise);
      rejectAs(ATTACKER, 2, 0);
      const flushing = recorder.flush();
      rejectAs(ATTACKER, 3, 10);
      append.mockImplementation(async (batch) => batch.length);
      held.resolve(1);
      await flushing;
      await recorder.flush();
      expect(entries()).toEqual([[[expect.any(String), 2, 0, 1]], [[expect.any(String), 3, 10, 12]]]);
    });

    it('after a failed append, merges the kept entry with what its group added meanwhile', async () => {
      const held = deferred();
      const { recorder, append, rejectAs, entries, keys } = setup({}, () => held.promise);
      rejectAs(ATTACKER, 3, 0);
      const flushing = recorder.flush();
      rejectAs(VICTIM, 1, 5);
      rejectAs(ATTACKER, 2, 10);
      held.reject(new Error('timeout'));
      await flushing;
      expect(recorder.buffered).toBe(2);
      append.mockImplementation(async (batch) => batch.length);
      await recorder.flush();
      expect(entries()[1]).toEqual([
        [`ip:${keys.hashId(ATTACKER.clientId)}`, 5, 0, 11],
        [`ip:${keys.hashId(VICTIM.clientId)}`, 1, 5, 5],
      ]);
    });

    it('counts every violation of a group dropped when a failed batch no longer fits back in front', async () => {
      const held = deferred();
      const { recorder, rejectAs, drops } = setup({ maxBuffered: 1 }, () => held.promise);
      rejectAs(ATTACKER, 3, 0);
      const flushing = recorder.flush();
      rejectAs(VICTIM, 4, 10); // fits the emptied buffer while the append is in flight
      held.reject(new Error('timeout'));
      await flushing;
      expect(recorder.buffered).toBe(1);
      expect(drops).toEqual([4]);
    });

    it('logs and emits every violation one by one, whatever the grouping', () => {
      const { events, rejectAs } = setup({ log: { lines: 100, intervalMs: 10_000 } });
      const seen: Violation[] = [];
      events.on('ratelimit.violation', (violation) => seen.push(violation));
      rejectAs(ATTACKER, 7);
      expect(seen).toHaveLength(7);
      expect(logger.of('RateLimit')).toHaveLength(7);
    });

    it("a flood past the log's lines: every violation still emitted, counted in the summary and in its entry", async () => {
      const { events, recorder, rejectAs, entries } = setup({ log: { lines: 2, intervalMs: 10_000 } });
      const seen: Violation[] = [];
      const stop = events.on('ratelimit.violation', (violation) => seen.push(violation));
      rejectAs(ATTACKER, 7);
      expect(seen.map((violation) => violation.atMs)).toEqual(range(0, 7));
      stop(); // nobody listening now: the rest is only counted
      rejectAs(ATTACKER, 3, 7);
      expect(seen).toHaveLength(7);
      await recorder.flush();
      expect(entries()[0].map(([, count, firstAtMs, atMs]) => [count, firstAtMs, atMs])).toEqual([[10, 0, 9]]);
      await jest.advanceTimersByTimeAsync(10_000);
      expect(logger.of('RateLimit').map((line) => line.message)).toEqual([
        expect.stringMatching(/^rate limit exceeded: client=ip:/),
        expect.stringMatching(/^rate limit exceeded: client=ip:/),
        '8 more rate-limit violations not logged one by one in the last 10 s',
      ]);
    });
  });

  describe('flushing', () => {
    it('appends everything buffered in order, in batches of at most 1000', async () => {
      const { recorder, reject, batches } = setup({ flushIntervalMs: 60_000 });
      reject(2500);
      expect(recorder.buffered).toBe(2500);
      await recorder.flush();
      expect(batches().map((batch) => batch.length)).toEqual([1000, 1000, 500]);
      expect(batches().flat()).toEqual(range(0, 2500));
      expect(recorder.buffered).toBe(0);
    });

    it('does not call the stream when nothing is buffered', async () => {
      const { recorder, append } = setup();
      await recorder.flush();
      await jest.advanceTimersByTimeAsync(5000);
      expect(append).not.toHaveBeenCalled();
    });

    it('flushes every flushIntervalMs', async () => {
      const { reject, batches } = setup({ flushIntervalMs: 500 });
      reject(3);
      await jest.advanceTimersByTimeAsync(499);
      expect(batches()).toEqual([]);
      await jest.advanceTimersByTimeAsync(1);
      expect(batches()).toEqual([[0, 1, 2]]);
      reject(2, 3);
      await jest.advanceTimersByTimeAsync(500);
      expect(batches()).toEqual([
        [0, 1, 2],
        [3, 4],
      ]);
      await jest.advanceTimersByTimeAsync(500); // an empty interval calls nothing
      expect(batches()).toHaveLength(2);
    });

    it('flushes a full batch at once, without waiting for the interval', async () => {
      const { reject, batches } = setup({ flushIntervalMs: 60_000 });
      reject(999);
      await jest.advanceTimersByTimeAsync(0);
      expect(batches()).toEqual([]);
      reject(1, 999);
      await jest.advanceTimersByTimeAsync(0);
      expect(batches()).toEqual([range(0, 1000)]);
    });

    it('keeps a batch whose append failed and writes it first on the next flush', async () => {
      const { recorder, append, reject, batches } = setup();
      append.mockRejectedValueOnce(new Error('NOSCRIPT or whatever'));
      reject(3);
      await recorder.flush();
      expect(recorder.buffered).toBe(3);
      reject(2, 3);
      await recorder.flush();
      expect(batches()).toEqual([
        [0, 1, 2],
        [0, 1, 2, 3, 4],
      ]);
      expect(recorder.buffered).toBe(0);
      expect(logger.of('RateLimit')).toEqual([
        {
          level: 'warn',
          context: 'RateLimit',
          message: 'violations not written to the stream yet: NOSCRIPT or whatever',
        },
      ]);
    });

    it('keeps order when a later batch of a multi-batch flush fails', async () => {
      const { recorder, append, reject, batches } = setup({ flushIntervalMs: 60_000 });
      append.mockImplementationOnce(async (batch) => batch.length).mockRejectedValueOnce(new Error('timeout'));
      reject(2500);
      await recorder.flush();
      expect(recorder.buffered).toBe(1500);
      await recorder.flush();
      const written = batches();
      expect(written.map((batch) => batch.length)).toEqual([1000, 1000, 1000, 500]);
      // The first batch once, then the failed one again, then the rest.
      expect([...written[0], ...written[2], ...written[3]]).toEqual(range(0, 2500));
    });

    it('a flush asked for while one is running joins it; what arrived meanwhile waits for the next flush', async () => {
      const held = deferred();
      const { recorder, append, reject, batches } = setup({}, () => held.promise);
      reject(2);
      const first = recorder.flush();
      reject(1, 2);
      const second = recorder.flush();
      expect(append).toHaveBeenCalledTimes(1);
      append.mockImplementation(async (batch) => batch.length);
      held.resolve(2);
      await Promise.all([first, second]);
      expect(batches()).toEqual([[0, 1]]);
      expect(recorder.buffered).toBe(1);
      await recorder.flush();
      expect(batches()).toEqual([[0, 1], [2]]);
    });

    it('under a flood, one flush makes one call per 1000 buffered, not one per round trip', async () => {
      const { recorder, append, reject } = setup({ flushIntervalMs: 60_000 });
      let next = 1500;
      // The first two appends each take a round trip during which 10 more violations arrive.
      append.mockImplementation(async (batch) => {
        if (next < 1520) {
          reject(10, next);
          next += 10;
        }
        return batch.length;
      });
      reject(1500);
      await recorder.flush();
      expect(append).toHaveBeenCalledTimes(2);
      expect(recorder.buffered).toBe(20);
    });
  });

  describe('bounded buffer', () => {
    it('drops violations beyond maxBuffered, emitting one dropped event per violation', async () => {
      const { recorder, reject, drops, batches } = setup({ maxBuffered: 3 });
      reject(5);
      expect(recorder.buffered).toBe(3);
      expect(drops).toEqual([1, 1]);
      await recorder.flush();
      expect(batches()).toEqual([[0, 1, 2]]);
      reject(1, 5);
      expect(drops).toEqual([1, 1]); // room again after the flush
      expect(recorder.buffered).toBe(1);
    });

    it('drops the newest when a failed batch no longer fits back in front, counting them', async () => {
      const held = deferred();
      const { recorder, append, reject, drops, batches } = setup({ maxBuffered: 5 }, () => held.promise);
      reject(5);
      const flushing = recorder.flush();
      reject(4, 5); // arrive while the batch is in flight: the buffer has room for them
      expect(recorder.buffered).toBe(4);
      expect(drops).toEqual([]);
      held.reject(new Error('timeout'));
      await flushing;
      expect(drops).toEqual([4]);
      expect(recorder.buffered).toBe(5);
      append.mockImplementation(async (batch) => batch.length);
      await recorder.flush();
      expect(batches()[1]).toEqual([0, 1, 2, 3, 4]);
    });

    it('counts drops in the summary log line', async () => {
      const { reject } = setup({ maxBuffered: 1, flushIntervalMs: 60_000, log: { lines: 0, intervalMs: 10_000 } });
      reject(3);
      await jest.advanceTimersByTimeAsync(10_000);
      expect(logger.of('RateLimit').map((line) => line.message)).toEqual([
        '3 more rate-limit violations not logged one by one; 2 violations dropped (stream buffer full) in the last 10 s',
      ]);
    });
  });

  describe('options', () => {
    it('with stream: false starts no timer and buffers nothing', async () => {
      const { recorder, reject, append } = setup({ stream: false });
      expect(jest.getTimerCount()).toBe(0);
      reject(3);
      expect(recorder.buffered).toBe(0);
      await recorder.flush();
      await jest.advanceTimersByTimeAsync(10_000);
      expect(append).not.toHaveBeenCalled();
    });

    it('without a stream object starts no timer and buffers nothing', () => {
      const events = new ShieldEvents();
      const recorder = new ViolationRecorder(
        OPTIONS,
        new KeyBuilder({ prefix: '', hashSecret: 'x' }),
        events,
        undefined,
      );
      expect(jest.getTimerCount()).toBe(0);
      events.emit('ratelimit.decision', decision());
      expect(recorder.buffered).toBe(0);
    });

    it('still logs violations when the stream is off', () => {
      const { reject } = setup({ stream: false, log: { lines: 5, intervalMs: 10_000 } });
      reject(2);
      expect(logger.of('RateLimit').filter((line) => line.level === 'log')).toHaveLength(2);
    });

    it('keeps a violation for the stream only when Math.random() < sampleRate', async () => {
      const draws = [0.1, 0.25, 0.2499, 0.9, 0];
      jest.spyOn(Math, 'random').mockImplementation(() => draws.shift() ?? 1);
      const { recorder, reject, batches, drops } = setup({ sampleRate: 0.25, maxBuffered: 3 });
      reject(5);
      await recorder.flush();
      expect(batches()).toEqual([[0, 2, 4]]);
      expect(drops).toEqual([]); // sampled out is not dropped
    });

    it('keeps the configured fraction over many violations', async () => {
      let n = 0;
      jest.spyOn(Math, 'random').mockImplementation(() => ((n++ % 1000) + 0.5) / 1000);
      const { recorder, reject } = setup({ sampleRate: 0.25, flushIntervalMs: 60_000 });
      reject(2000);
      expect(recorder.buffered).toBe(500);
    });

    it('keeps every violation with sampleRate 1', () => {
      jest.spyOn(Math, 'random').mockReturnValue(0.999_999);
      const { recorder, reject } = setup({ sampleRate: 1 });
      reject(10);
      expect(recorder.buffered).toBe(10);
    });
  });

  describe('close()', () => {
    it('writes what is left, unsubscribes and stops the timer', async () => {
      const { recorder, events, reject, batches } = setup({ flushIntervalMs: 60_000 });
      reject(3);
      await recorder.close();
      expect(batches()).toEqual([[0, 1, 2]]);
      expect(events.has('ratelimit.decision')).toBe(false);
      expect(jest.getTimerCount()).toBe(0);
      reject(2, 3);
      expect(recorder.buffered).toBe(0);
      await jest.advanceTimersByTimeAsync(120_000);
      expect(batches()).toHaveLength(1);
    });

    it('waits for a flush in flight, then writes the rest', async () => {
      const held = deferred();
      const { recorder, append, reject, batches } = setup({}, () => held.promise);
      reject(2);
      void recorder.flush();
      reject(1, 2);
      let closed = false;
      const closing = recorder.close().then(() => (closed = true));
      await jest.advanceTimersByTimeAsync(100);
      expect(closed).toBe(false);
      append.mockImplementation(async (batch) => batch.length);
      held.resolve(2);
      await closing;
      expect(batches()).toEqual([[0, 1], [2]]);
    });

    it('retries a batch that failed just before shutdown', async () => {
      const { recorder, append, reject, batches } = setup();
      append.mockRejectedValueOnce(new Error('timeout'));
      reject(2);
      await recorder.flush();
      await recorder.close();
      expect(batches()).toEqual([
        [0, 1],
        [0, 1],
      ]);
      expect(recorder.buffered).toBe(0);
    });

    it('retries a batch whose append in flight fails while it waits', async () => {
      const held = deferred();
      const { recorder, append, reject, batches } = setup({}, () => held.promise);
      reject(2);
      void recorder.flush();
      const closing = recorder.close();
      append.mockImplementation(async (batch) => batch.length);
      held.reject(new Error('timeout'));
      await closing;
      expect(batches()).toEqual([
        [0, 1],
        [0, 1],
      ]);
    });

    it('gives up after its bounded wait (2 s) when the stream never answers', async () => {
      const { recorder, reject, append } = setup({}, () => new Promise<number>(() => undefined));
      reject(1);
      let closed = false;
      void recorder.close().then(() => (closed = true));
      await jest.advanceTimersByTimeAsync(1999);
      expect(append).toHaveBeenCalledTimes(1);
      expect(closed).toBe(false);
      await jest.advanceTimersByTimeAsync(1);
      expect(closed).toBe(true);
    });

    it('writes the pending log summary', async () => {
      const { recorder, reject } = setup({ log: { lines: 1, intervalMs: 10_000 } });
      reject(3);
      await recorder.close();
      expect(
        logger
          .of('RateLimit')
          .filter((line) => line.level === 'warn')
          .map((line) => line.message),
      ).toEqual(['2 more rate-limit violations not logged one by one in the last 10 s']);
      expect(jest.getTimerCount()).toBe(0);
    });
  });
});
