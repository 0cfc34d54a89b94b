import { BoundedMemo, MEMO_MAX_INPUT_LENGTH } from './bounded-memo.js';

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

  it('never keeps an input longer than MEMO_MAX_INPUT_LENGTH: it is computed every time', () => {
    let calls = 0;
    const memo = new BoundedMemo((input) => {
      calls += 1;
      return String(input.length);
    }, 10);
    const long = 'x'.repeat(MEMO_MAX_INPUT_LENGTH + 1);
    expect(memo.get(long)).toBe(String(MEMO_MAX_INPUT_LENGTH + 1));
    expect(memo.get(long)).toBe(String(MEMO_MAX_INPUT_LENGTH + 1));
    expect(calls).toBe(2);
    expect(memo.size).toBe(0);
    const longest = 'y'.repeat(MEMO_MAX_INPUT_LENGTH);
    memo.get(longest);
    memo.get(longest);
    expect(calls).toBe(3);
    expect(memo.size).toBe(1);
  });
});
