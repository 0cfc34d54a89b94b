import { Deadline, requestDeadline } from './deadline.js';

describe('Deadline', () => {
  it('counts down from its budget and never goes negative', async () => {
    const deadline = Deadline.after(30);
    expect(deadline.remainingMs()).toBeGreaterThan(20);
    expect(deadline.remainingMs()).toBeLessThanOrEqual(30);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(deadline.remainingMs()).toBe(0);
  });

  it('is shared per request object', () => {
    const request = {};
    const first = requestDeadline(request, 100);
    expect(requestDeadline(request, 5000)).toBe(first);
    expect(requestDeadline({}, 100)).not.toBe(first);
  });
});
