import { Deadline, requestDeadline } from './deadline.js';

describe('Deadline', () => {
  it('counts down from its budget and never goes negative', async () => {
    const long = Deadline.after(10_000);
    expect(long.remainingMs()).toBeGreaterThan(9_000);
    expect(long.remainingMs()).toBeLessThanOrEqual(10_000);
    const short = Deadline.after(20);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(short.remainingMs()).toBe(0);
    expect(long.remainingMs()).toBeLessThan(10_000);
  });

  it('is shared per request object', () => {
    const request = {};
    const first = requestDeadline(request, 100);
    expect(requestDeadline(request, 5000)).toBe(first);
    expect(requestDeadline({}, 100)).not.toBe(first);
  });
});
