import { ByteBoundedMap } from './byte-lru.js';

describe('ByteBoundedMap', () => {
  it('forgets the oldest entries until the total fits the byte bound', () => {
    const map = new ByteBoundedMap<string, string>(10);
    expect(map.set('a', 'A', 4)).toBe(true);
    expect(map.set('b', 'B', 4)).toBe(true);
    expect(map.bytes).toBe(8);
    expect(map.set('c', 'C', 5)).toBe(true); // 13 > 10: 'a' goes
    expect(map.get('a')).toBeUndefined();
    expect(map.get('b')).toBe('B');
    expect(map.get('c')).toBe('C');
    expect(map.bytes).toBe(9);
    expect(map.set('d', 'D', 9)).toBe(true); // only 'd' fits
    expect([map.size, map.bytes]).toEqual([1, 9]);
  });

  it('rewriting a key replaces its size and makes it the newest', () => {
    const map = new ByteBoundedMap<string, string>(10);
    map.set('a', 'A', 4);
    map.set('b', 'B', 4);
    map.set('a', 'A2', 2);
    expect(map.bytes).toBe(6);
    map.set('c', 'C', 5); // 11: the oldest is now 'b'
    expect(map.get('b')).toBeUndefined();
    expect(map.get('a')).toBe('A2');
    expect(map.bytes).toBe(7);
  });

  it('refuses a value larger than the bound and forgets the older value of its key', () => {
    const map = new ByteBoundedMap<string, string>(10);
    map.set('a', 'A', 3);
    expect(map.set('a', 'big', 11)).toBe(false);
    expect(map.get('a')).toBeUndefined();
    expect(map.bytes).toBe(0);
  });

  it('delete and clear keep the byte count', () => {
    const map = new ByteBoundedMap<string, string>(10);
    map.set('a', 'A', 3);
    map.set('b', 'B', 3);
    expect(map.delete('a')).toBe(true);
    expect(map.delete('a')).toBe(false);
    expect(map.bytes).toBe(3);
    map.clear();
    expect([map.size, map.bytes]).toEqual([0, 0]);
  });

  it('checks its arguments', () => {
    expect(() => new ByteBoundedMap(0)).toThrow(/SHIELD_E009|maxBytes/);
    expect(() => new ByteBoundedMap<string, string>(5).set('a', 'A', -1)).toThrow(/bytes/);
  });
});
