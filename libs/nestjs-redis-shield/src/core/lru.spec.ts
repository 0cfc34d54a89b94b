import { BoundedMap } from './lru.js';

describe('BoundedMap', () => {
  it('keeps at most max entries, forgetting the oldest write first', () => {
    const map = new BoundedMap<string, number>(3);
    expect(map.set('a', 1)).toBeUndefined();
    map.set('b', 2);
    map.set('c', 3);
    expect(map.set('d', 4)).toBe('a');
    expect(map.size).toBe(3);
    expect([...map.keys()]).toEqual(['b', 'c', 'd']);
    expect(map.has('a')).toBe(false);
    expect(map.get('a')).toBeUndefined();
  });

  it('moves a key written again to the newest end; a read does not', () => {
    const map = new BoundedMap<string, number>(3);
    map.set('a', 1);
    map.set('b', 2);
    map.set('c', 3);
    expect(map.get('a')).toBe(1); // read: still the oldest
    expect(map.set('b', 20)).toBeUndefined(); // rewrite: no growth, b is newest
    expect([...map]).toEqual([
      ['a', 1],
      ['c', 3],
      ['b', 20],
    ]);
    expect(map.set('d', 4)).toBe('a');
    expect(map.set('e', 5)).toBe('c');
    expect([...map.values()]).toEqual([20, 4, 5]);
  });

  it('deletes and clears', () => {
    const map = new BoundedMap<number, string>(2);
    map.set(1, 'x');
    map.set(2, 'y');
    expect(map.delete(1)).toBe(true);
    expect(map.delete(1)).toBe(false);
    map.set(3, 'z'); // room freed by the delete: nothing evicted
    expect([...map.keys()]).toEqual([2, 3]);
    for (const key of map.keys()) if (key === 2) map.delete(key);
    expect([...map.keys()]).toEqual([3]);
    map.clear();
    expect(map.size).toBe(0);
  });

  it('a bound of 1 keeps the last write only', () => {
    const map = new BoundedMap<string, boolean>(1);
    map.set('a', true);
    expect(map.set('b', true)).toBe('a');
    expect([...map.keys()]).toEqual(['b']);
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses max %p', (max) => {
    expect(() => new BoundedMap(max)).toThrow(RangeError);
  });
});
