import { atEndOfTurn } from './end-of-turn.js';

describe('atEndOfTurn', () => {
  it('runs queued work after the current callback and its microtasks, in order, and resolves with its result', async () => {
    const seen: string[] = [];
    const first = atEndOfTurn(() => {
      seen.push('first');
      return 1;
    });
    const second = atEndOfTurn(() => {
      seen.push('second');
      return 2;
    });
    await Promise.resolve();
    seen.push('microtask');
    expect(await Promise.all([first, second])).toEqual([1, 2]);
    expect(seen).toEqual(['microtask', 'first', 'second']);
  });

  it('rejects with what the work throws, and still runs the rest of the batch', async () => {
    const failing = atEndOfTurn(() => {
      throw new Error('boom');
    });
    const after = atEndOfTurn(() => 'ran');
    await expect(failing).rejects.toThrow('boom');
    await expect(after).resolves.toBe('ran');
  });

  it('runs work queued by queued work at the end of a later turn', async () => {
    const inner = await atEndOfTurn(() => atEndOfTurn(() => 'inner'));
    expect(inner).toBe('inner');
  });
});
