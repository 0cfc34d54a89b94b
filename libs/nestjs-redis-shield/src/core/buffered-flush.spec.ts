import { jest } from '@jest/globals';
import { BufferedFlush, type BufferedFlushOptions } from './buffered-flush.js';

/** A buffer of named counts, as a statistics counter or a violation recorder keeps. */
type Counts = Map<string, number>;

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** A flusher of counts whose sends the test settles by hand, recording what each sent. */
function counts(overrides: Partial<BufferedFlushOptions<Counts>> = {}) {
  const sent: Counts[] = [];
  const settle: ((unsent?: Counts) => void)[] = [];
  const fail: ((error: Error) => void)[] = [];
  const errors: unknown[] = [];
  const flusher = new BufferedFlush<Counts>({
    intervalMs: 60_000,
    empty: () => new Map(),
    isEmpty: (buffer) => buffer.size === 0,
    send: (taken) => {
      sent.push(new Map(taken));
      return new Promise<Counts | void>((resolve, reject) => {
        settle.push(resolve);
        fail.push(reject);
      });
    },
    restore: (unsent, current) => {
      const merged = new Map(unsent);
      for (const [key, n] of current) merged.set(key, (merged.get(key) ?? 0) + n);
      return merged;
    },
    onError: (error) => errors.push(error),
    ...overrides,
  });
  const add = (key: string, n = 1) => flusher.current.set(key, (flusher.current.get(key) ?? 0) + n);
  return { flusher, sent, settle, fail, errors, add };
}

const entries = (map: Counts) => Object.fromEntries(map);

afterEach(() => {
  jest.clearAllTimers();
  jest.useRealTimers();
});

describe('BufferedFlush', () => {
  it('sends the buffer every interval, taking it out so new writes go to a fresh one', async () => {
    jest.useFakeTimers();
    const { flusher, sent, settle, add } = counts({ intervalMs: 1000 });
    jest.advanceTimersByTime(1000);
    expect(sent).toHaveLength(0); // empty: nothing sent
    add('a');
    add('a');
    jest.advanceTimersByTime(1000);
    expect(sent.map(entries)).toEqual([{ a: 2 }]);
    expect(flusher.current.size).toBe(0);
    settle[0]();
    await flusher.drain();
    expect(flusher.flushing).toBe(false);
    await flusher.close();
  });

  it('joins a send in flight; what arrived meanwhile waits for the next flush, which drain sends', async () => {
    const { flusher, sent, settle, add } = counts();
    add('a');
    const first = flusher.flush();
    add('b');
    expect(flusher.flush()).toBe(first);
    expect(sent.map(entries)).toEqual([{ a: 1 }]);
    const drained = flusher.drain();
    settle[0]();
    await first;
    await nextTurn();
    expect(sent.map(entries)).toEqual([{ a: 1 }, { b: 1 }]);
    settle[1]();
    await drained;
    await flusher.close();
  });

  it('puts what was not sent back in front of what arrived meanwhile', async () => {
    const { flusher, sent, settle, add } = counts();
    add('a', 3);
    add('b', 1);
    const flushed = flusher.flush();
    add('b', 2);
    add('c', 1);
    settle[0](new Map([['b', 1]])); // a went, b did not
    await flushed;
    expect(entries(flusher.current)).toEqual({ b: 3, c: 1 });
    expect([...flusher.current.keys()]).toEqual(['b', 'c']);
    expect(sent).toHaveLength(1);
    const closing = flusher.close();
    expect(sent.map(entries)).toEqual([
      { a: 3, b: 1 },
      { b: 3, c: 1 },
    ]);
    settle[1]();
    await closing;
  });

  it('on a failed send keeps all of it, reports the error and never rejects', async () => {
    const { flusher, fail, errors, add } = counts();
    add('a', 2);
    const flushed = flusher.flush();
    add('a', 1);
    fail[0](new Error('OOM'));
    await expect(flushed).resolves.toBeUndefined();
    expect(errors).toEqual([new Error('OOM')]);
    expect(entries(flusher.current)).toEqual({ a: 3 });
    await expect(flusher.close(10)).resolves.toBe(false); // the retry hangs: close is cut
  });

  it('flushSoon flushes on the next turn, once however often it is asked', async () => {
    const { flusher, sent, settle, add } = counts();
    add('a');
    flusher.flushSoon();
    flusher.flushSoon();
    expect(sent).toHaveLength(0);
    await nextTurn();
    expect(sent).toHaveLength(1);
    add('b');
    flusher.flushSoon(); // one in flight: nothing scheduled
    await nextTurn();
    expect(sent).toHaveLength(1);
    const drained = flusher.drain();
    settle[0]();
    await nextTurn();
    expect(sent.map(entries)).toEqual([{ a: 1 }, { b: 1 }]);
    settle[1]();
    await drained;
    await flusher.close();
  });

  it('close stops the interval and sends what is left, cut after timeoutMs', async () => {
    const done = counts();
    done.add('a');
    const closing = done.flusher.close(1000);
    done.settle[0]();
    await expect(closing).resolves.toBe(true);
    expect(done.sent.map(entries)).toEqual([{ a: 1 }]);

    const hung = counts();
    hung.add('a');
    await expect(hung.flusher.close(10)).resolves.toBe(false);
    hung.flusher.flushSoon(); // closed: nothing more is scheduled
    await nextTurn();
    expect(hung.sent).toHaveLength(1);
  });
});
