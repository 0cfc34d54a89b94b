import { Deadline, MAX_WAIT_FACTOR, requestDeadline, sharedDeadline } from './deadline.js';

/** Keeps the event loop busy (no I/O, no idle time) for `ms`. */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Event-loop idle time (waiting in epoll) so far, in ms: what a deadline charges. */
const idleTime = () => performance.nodeTiming.idleTime;

/**
 * Sleeps until the process has spent at least `ms` idle waiting for I/O. A plain sleep of
 * `ms` may be spent busy instead on a loaded machine (a CI run once got none idle in 40 ms).
 */
async function idleFor(ms: number): Promise<void> {
  const until = idleTime() + ms;
  const giveUpAt = performance.now() + 5000;
  while (idleTime() < until && performance.now() < giveUpAt) await sleep(5);
}

describe('Deadline', () => {
  it('does not run while no command is on the wire: time in the app is not Redis time', async () => {
    const deadline = Deadline.after(20);
    busy(30);
    await sleep(30);
    expect(deadline.remainingMs()).toBe(20);
  });

  it('charges the time the process waited idle for a reply', async () => {
    const deadline = Deadline.after(10_000);
    const settle = deadline.onTheWire();
    await idleFor(40);
    expect(deadline.remainingMs()).toBeLessThanOrEqual(10_000 - 40);
    settle(false);
    const left = deadline.remainingMs();
    expect(left).toBeLessThan(10_000);
    await sleep(20);
    expect(deadline.remainingMs()).toBe(left); // settled: the clock stopped
  });

  it('never charges event-loop lag: a reply read late because the loop was busy costs nothing', () => {
    const deadline = Deadline.after(100);
    const settle = deadline.onTheWire();
    busy(150); // longer than the budget, but the process never waited for Redis
    settle(false);
    expect(deadline.remainingMs()).toBe(100);
  });

  it(`caps the wall time with commands in flight at ${MAX_WAIT_FACTOR}x the budget, so a request never hangs`, () => {
    const deadline = Deadline.after(10);
    const settle = deadline.onTheWire();
    busy(10 * MAX_WAIT_FACTOR + 5);
    expect(deadline.remainingMs()).toBe(0);
    settle(false);
    expect(deadline.remainingMs()).toBe(0);
  });

  it('counts overlapping commands once, and is spent by a timeout', () => {
    const deadline = Deadline.after(200);
    const first = deadline.onTheWire();
    const second = deadline.onTheWire();
    busy(300);
    first(false);
    busy(100); // one stretch of 400 ms in flight, not 300 + 400, below the cap of 600
    second(false);
    second(true); // settling twice changes nothing
    expect(deadline.remainingMs()).toBeGreaterThan(0);
    const third = deadline.onTheWire();
    busy(210); // past 3 x 200 in all
    third(false);
    expect(deadline.remainingMs()).toBe(0);

    const timedOut = Deadline.after(100);
    timedOut.onTheWire()(true);
    expect(timedOut.remainingMs()).toBe(0);
  });

  it('is shared per request object', () => {
    const request = {};
    const first = requestDeadline(request, 100);
    expect(requestDeadline(request, 5000)).toBe(first);
    expect(requestDeadline({}, 100)).not.toBe(first);
  });
});

describe('sharedDeadline (one command deciding for several requests)', () => {
  it('has the least time any of its requests has left', () => {
    const full = Deadline.after(1000);
    const short = Deadline.after(300);
    expect(sharedDeadline([full, short]).remainingMs()).toBe(300);
    expect(sharedDeadline([full]).remainingMs()).toBe(1000);
  });

  it('charges every request for the time the command is on the wire, and a timeout spends every deadline', async () => {
    const a = Deadline.after(10_000);
    const b = Deadline.after(10_000);
    const settle = sharedDeadline([a, b]).onTheWire();
    await sleep(40);
    settle(false);
    const [leftA, leftB] = [a.remainingMs(), b.remainingMs()];
    expect(leftA).toBeLessThan(10_000);
    expect(leftB).toBeLessThan(10_000);
    await sleep(20);
    expect([a.remainingMs(), b.remainingMs()]).toEqual([leftA, leftB]); // settled for both

    const c = Deadline.after(10_000);
    const d = Deadline.after(10_000);
    sharedDeadline([c, d]).onTheWire()(true);
    expect([c.remainingMs(), d.remainingMs()]).toEqual([0, 0]);
  });
});
