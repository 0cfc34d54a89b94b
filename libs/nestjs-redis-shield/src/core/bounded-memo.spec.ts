import { BoundedMemo } from './bounded-memo.js';

describe('BoundedMemo', () => {
  it('computes each input once while it is among the last max inputs, forgetting the oldest first', () => {
    const calls: string[] = [];
    const memo = new BoundedMemo((input) => {
      calls.push(input);
      return input.toUpperCase();
    }, 2);
    expect(memo.get('a')).toBe('A');
    expect(memo.get('a')).toBe('A');
    expect(memo.get('b')).toBe('B');
    expect(calls).toEqual(['a', 'b']);
    expect(memo.get('c')).toBe('C'); // a, the oldest, is forgotten
    expect(memo.size).toBe(2);
    expect(memo.get('b')).toBe('B');
    expect(memo.get('a')).toBe('A');
    expect(calls).toEqual(['a', 'b', 'c', 'a']);
  });
});
