import { eventLoopDelay } from './load-shedding.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('eventLoopDelay', () => {
  it('keeps a lag that ended just as its window closed (reset before the next sample)', async () => {
    const source = eventLoopDelay();
    try {
      await sleep(30);
      const end = Date.now() + 300;
      while (Date.now() < end) {
        // the event loop is blocked
      }
      // The window's timer ran first: the lag belongs to the window that starts now.
      source.reset();
      await sleep(40);
      expect(source.maxMs()).toBeGreaterThan(250);
    } finally {
      source.stop();
    }
  });

  it('sees no lag on a calm loop', async () => {
    const source = eventLoopDelay();
    try {
      await sleep(60);
      expect(source.maxMs()).toBeLessThan(100);
    } finally {
      source.stop();
    }
  });
});
