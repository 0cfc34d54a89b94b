import { ALGORITHM_CODES, dispatcherLua, RATE_LIMIT_LUA } from '../../store/lua/rate-limit.lua.js';
import { buildPolicy } from '../policy.js';
import { ALGORITHMS, DEFAULT_ALGORITHM, RATE_LIMIT_ALGORITHMS } from './registry.js';

/** The signature every algorithm's Lua defines (see `RateLimitAlgorithm`). */
const DECIDE = 'local function decide(state, limit, window, cost, now, ttl)';

function occurrences(text: string, part: string): number {
  return text.split(part).length - 1;
}

/** The dispatcher's blocks as the composed script holds them: name, body and code, in order. */
function dispatchedBlocks(script: string): { name: string; body: string; code: number }[] {
  return [...script.matchAll(/^do -- (\S+)\n([\s\S]*?)\nalgorithms\[(\d+)\] = decide\nend$/gm)].map((match) => ({
    name: match[1],
    body: match[2],
    code: Number(match[3]),
  }));
}

describe('the algorithm registry', () => {
  it('is the one list of names: RATE_LIMIT_ALGORITHMS and the codes are its keys, in its order', () => {
    expect(RATE_LIMIT_ALGORITHMS).toEqual(Object.keys(ALGORITHMS));
    expect(Object.keys(ALGORITHM_CODES)).toEqual(Object.keys(ALGORITHMS));
    expect(Object.values(ALGORITHM_CODES)).toEqual(RATE_LIMIT_ALGORITHMS.map((_, index) => index + 1));
    expect(RATE_LIMIT_ALGORITHMS).toContain(DEFAULT_ALGORITHM);
  });

  it.each(RATE_LIMIT_ALGORITHMS)('%s has a TypeScript half that decides a fresh bucket', (name) => {
    const verdict = ALGORITHMS[name].decide(undefined, { limit: 2, windowMs: 1000 }, 1, Date.UTC(2030, 0, 1));
    expect(verdict).toMatchObject({ allowed: true, remaining: 1, retryAfterMs: 0 });
    expect(ALGORITHMS[name].decide(verdict.next, { limit: 2, windowMs: 1000 }, 2, Date.UTC(2030, 0, 1))).toMatchObject({
      allowed: false,
      remaining: 1,
    });
  });

  it.each(RATE_LIMIT_ALGORITHMS)('%s has a Lua twin that defines decide once, with the contract signature', (name) => {
    const lua = ALGORITHMS[name].lua;
    expect(occurrences(lua, 'local function decide(')).toBe(1);
    expect(lua).toContain(DECIDE);
    // Its own block keeps its helpers local: no dispatcher plumbing of its own.
    expect(lua).not.toMatch(/algorithms\[|^do\b/m);
  });

  it('composes a dispatcher that covers exactly the registry, each algorithm at its code', () => {
    const blocks = dispatchedBlocks(RATE_LIMIT_LUA);
    expect(blocks.map((block) => block.name)).toEqual(RATE_LIMIT_ALGORITHMS);
    for (const block of blocks) {
      const name = block.name as keyof typeof ALGORITHMS;
      expect(block.code).toBe(ALGORITHM_CODES[name]);
      expect(block.body).toBe(ALGORITHMS[name].lua.trim());
    }
    // No decide outside the blocks, and no algorithm table written by hand.
    expect(occurrences(RATE_LIMIT_LUA, 'local function decide(')).toBe(RATE_LIMIT_ALGORITHMS.length);
    expect(occurrences(RATE_LIMIT_LUA, 'local algorithms =')).toBe(1);
    expect(occurrences(RATE_LIMIT_LUA, '] = decide')).toBe(RATE_LIMIT_ALGORITHMS.length);
  });

  it('generates the dispatcher from whatever list it is given (a fifth algorithm is one more entry)', () => {
    const fifth = { ...ALGORITHMS, 'new-one': { ...ALGORITHMS.gcra, lua: `${DECIDE}\n  return 1\nend` } };
    expect(dispatchedBlocks(dispatcherLua(fifth)).map((block) => [block.name, block.code])).toEqual(
      [...RATE_LIMIT_ALGORITHMS, 'new-one'].map((name, index) => [name, index + 1]),
    );
  });

  it('names the script KEYS and ARGV at the top, before any helper', () => {
    const top = RATE_LIMIT_LUA.slice(0, RATE_LIMIT_LUA.indexOf('local function'));
    expect(top).toMatch(/^-- KEYS /m);
    expect(top).toMatch(/^-- ARGV\[1\]/m);
    expect(top).toMatch(/^-- then {6}per request/m);
    expect(top).toMatch(/^-- Reply: /m);
  });

  it('is what policies are validated against', () => {
    for (const name of RATE_LIMIT_ALGORITHMS) {
      expect(buildPolicy('p', { tiers: { t: { limit: 1, windowMs: 1000 } } }, name).tiers[0].algorithm).toBe(name);
    }
    expect(() => buildPolicy('p', { tiers: { t: { limit: 1, windowMs: 1000 } } }, 'leaky' as never)).toThrow(
      `one of ${RATE_LIMIT_ALGORITHMS.join(', ')}`,
    );
  });
});
