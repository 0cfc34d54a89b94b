import { jest } from '@jest/globals';
import { SingleFlight } from './single-flight.js';

/** A promise settled from outside. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  return { promise, resolve, reject };
}

/** Lets every pending promise callback run. */
const ticks = () => new Promise((resolve) => setImmediate(resolve));

describe('SingleFlight', () => {
  describe('run', () => {
    it('runs the function once for concurrent callers of one key, who all get its result', async () => {
      const flights = new SingleFlight<number>();
      const gate = deferred<number>();
      const fn = jest.fn(() => gate.promise);
      const callers = [flights.run('k', fn), flights.run('k', fn), flights.run('k', fn)];
      expect(fn).toHaveBeenCalledTimes(1);
      expect(flights.size).toBe(1);
      gate.resolve(7);
      expect(await Promise.all(callers)).toEqual([7, 7, 7]);
    });

    it('runs different keys side by side', async () => {
      const flights = new SingleFlight<string>();
      const fn = jest.fn(async (value: string) => value);
      const results = await Promise.all([flights.run('a', () => fn('a')), flights.run('b', () => fn('b'))]);
      expect(results).toEqual(['a', 'b']);
      expect(fn).toHaveBeenCalledTimes(2);
    });

    it('frees the key once settled, before the callers see the result: the next call runs again', async () => {
      const flights = new SingleFlight<number>();
      let runs = 0;
      const first = flights.run('k', () => ++runs);
      await first.then(() => expect(flights.get('k')).toBeUndefined());
      expect(await flights.run('k', () => ++runs)).toBe(2);
    });

    it('hands a rejection to every caller and frees the key', async () => {
      const flights = new SingleFlight<number>();
      const gate = deferred<number>();
      const callers = [flights.run('k', () => gate.promise), flights.run('k', () => 1)];
      gate.reject(new Error('boom'));
      for (const caller of callers) await expect(caller).rejects.toThrow('boom');
      expect(flights.size).toBe(0);
    });

    it('turns a synchronous throw into a rejection', async () => {
      const flights = new SingleFlight<number>();
      const call = flights.run('k', () => {
        throw new Error('sync');
      });
      await expect(call).rejects.toThrow('sync');
      expect(flights.size).toBe(0);
    });
  });

  describe('claim', () => {
    it('gives the key to one leader at a time', () => {
      const flights = new SingleFlight<number>();
      const leader = flights.claim('k');
      expect(leader).toBeDefined();
      expect(flights.claim('k')).toBeUndefined();
      expect(flights.claim('other')).toBeDefined();
      leader!.settle(1);
      expect(flights.claim('k')).toBeDefined();
    });

    it('hands the value to the leader promise and frees the key at once without releaseAfter', async () => {
      const flights = new SingleFlight<string>();
      const leader = flights.claim('k')!;
      const waiting = flights.get('k')!;
      leader.settle('value');
      expect(flights.get('k')).toBeUndefined();
      expect(await waiting).toBe('value');
    });

    it('keeps the key until releaseAfter settles, answering new followers with the value meanwhile', async () => {
      const flights = new SingleFlight<string>();
      const leader = flights.claim('k')!;
      const stored = deferred<void>();
      leader.settle('value', stored.promise);
      expect(await flights.follow('k', 1_000)).toBe('value');
      expect(flights.claim('k')).toBeUndefined();
      stored.resolve();
      await ticks();
      expect(flights.get('k')).toBeUndefined();
    });

    it('frees the key when releaseAfter rejects, without an unhandled rejection', async () => {
      const flights = new SingleFlight<string>();
      const stored = deferred<void>();
      flights.claim('k')!.settle('value', stored.promise);
      stored.reject(new Error('write failed'));
      await ticks();
      expect(flights.size).toBe(0);
    });

    it('counts only the first settle', async () => {
      const flights = new SingleFlight<string | undefined>();
      const leader = flights.claim('k')!;
      const waiting = flights.get('k')!;
      const stored = deferred<void>();
      leader.settle('first', stored.promise);
      leader.settle(undefined); // e.g. the response closed after it finished: ignored
      expect(await waiting).toBe('first');
      expect(flights.get('k')).toBe(waiting); // still held until the write lands
      stored.resolve();
      await ticks();
      expect(flights.size).toBe(0);
    });

    it('a release never frees a later leader of the same key', async () => {
      const flights = new SingleFlight<number>();
      const stored = deferred<void>();
      flights.claim('k')!.settle(1); // freed at once
      const later = flights.claim('k')!;
      later.settle(2, stored.promise);
      stored.resolve();
      await ticks();
      expect(flights.size).toBe(0);
      // run's release only frees its own promise too
      const gate = deferred<number>();
      const running = flights.run('k', () => gate.promise);
      expect(flights.claim('k')).toBeUndefined();
      gate.resolve(3);
      expect(await running).toBe(3);
      expect(flights.size).toBe(0);
    });
  });

  describe('follow', () => {
    afterEach(() => jest.useRealTimers());

    it('returns undefined, not a promise, when no leader holds the key', () => {
      expect(new SingleFlight<number>().follow('k', 100)).toBeUndefined();
    });

    it("resolves with the leader's value when it comes in time", async () => {
      const flights = new SingleFlight<number>();
      const leader = flights.claim('k')!;
      const following = flights.follow('k', 1_000)!;
      leader.settle(42);
      expect(await following).toBe(42);
    });

    it('resolves undefined after timeoutMs when the leader is slower, and keeps no timer', async () => {
      jest.useFakeTimers();
      const flights = new SingleFlight<number>();
      const leader = flights.claim('k')!;
      let result: number | undefined | 'pending' = 'pending';
      void flights.follow('k', 50)!.then((value) => (result = value));
      await jest.advanceTimersByTimeAsync(49);
      expect(result).toBe('pending');
      await jest.advanceTimersByTimeAsync(1);
      expect(result).toBeUndefined();
      expect(jest.getTimerCount()).toBe(0);
      leader.settle(1); // too late for that follower; the key is free again
      expect(flights.size).toBe(0);
    });

    it('clears its timer when the leader answers first', async () => {
      jest.useFakeTimers();
      const flights = new SingleFlight<number>();
      const leader = flights.claim('k')!;
      const following = flights.follow('k', 10_000)!;
      expect(jest.getTimerCount()).toBe(1);
      leader.settle(5);
      expect(await following).toBe(5);
      expect(jest.getTimerCount()).toBe(0);
    });

    it("passes on a run's rejection", async () => {
      const flights = new SingleFlight<number>();
      const gate = deferred<number>();
      void flights.run('k', () => gate.promise).catch(() => undefined);
      const following = flights.follow('k', 1_000)!;
      gate.reject(new Error('boom'));
      await expect(following).rejects.toThrow('boom');
    });
  });
});
