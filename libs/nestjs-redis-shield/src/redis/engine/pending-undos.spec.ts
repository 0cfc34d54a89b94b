import { PendingUndos } from './pending-undos.js';

// What RedisConnection.undoWhenReady keeps between an outage and the connection's return;
// the Redis side is in cache-distributed.e2e-spec.ts and concurrency-limit.e2e-spec.ts.

const tick = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function recorder(redisUp: () => boolean) {
  const done: string[] = [];
  const undo = (name: string) => async () => {
    if (!redisUp()) throw new Error('redis unavailable');
    done.push(name);
  };
  return { done, undo };
}

describe('PendingUndos', () => {
  it('runs each kept undo once, when told to', async () => {
    const undos = new PendingUndos(10);
    const { done, undo } = recorder(() => true);
    undos.keep('a', 10_000, undo('a'));
    undos.keep('b', 10_000, undo('b'));
    expect(done).toEqual([]);
    undos.runAll();
    await tick();
    expect(done).toEqual(['a', 'b']);
    expect(undos.size).toBe(0);
    undos.runAll();
    await tick();
    expect(done).toEqual(['a', 'b']);
  });

  it('keeps an undo that fails for the next time', async () => {
    let up = false;
    const undos = new PendingUndos(10);
    const { done, undo } = recorder(() => up);
    undos.keep('a', 10_000, undo('a'));
    undos.runAll();
    await tick();
    expect([done, undos.size]).toEqual([[], 1]);
    up = true;
    undos.runAll();
    await tick();
    expect([done, undos.size]).toEqual([['a'], 0]);
  });

  it('drops an undo once it lapsed, whether waiting or failing', async () => {
    let up = false;
    const undos = new PendingUndos(10);
    const { done, undo } = recorder(() => up);
    undos.keep('short', 20, undo('short'));
    undos.keep('failing', 30, undo('failing'));
    undos.keep('long', 10_000, undo('long'));
    undos.runAll(); // all three fail and are kept
    await tick();
    expect(undos.size).toBe(3);
    await sleep(40);
    up = true;
    undos.runAll();
    await tick();
    expect(done).toEqual(['long']);
    undos.keep('lapsed', 0, undo('lapsed'));
    expect(undos.size).toBe(0);
  });

  it('keeps the latest undo of a key, and at most max, dropping the oldest', async () => {
    const undos = new PendingUndos(3);
    const { done, undo } = recorder(() => true);
    undos.keep('a', 10_000, undo('a-first'));
    undos.keep('b', 10_000, undo('b'));
    undos.keep('a', 10_000, undo('a-second')); // a is now the newest
    undos.keep('c', 10_000, undo('c'));
    undos.keep('d', 10_000, undo('d')); // drops b, the oldest
    undos.runAll();
    await tick();
    expect(done).toEqual(['a-second', 'c', 'd']);
  });

  it('forgets them all on clear', async () => {
    const undos = new PendingUndos(3);
    const { done, undo } = recorder(() => true);
    undos.keep('a', 10_000, undo('a'));
    undos.clear();
    undos.runAll();
    await tick();
    expect(done).toEqual([]);
  });
});
