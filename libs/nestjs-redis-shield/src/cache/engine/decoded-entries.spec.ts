import { DecodedEntries } from './decoded-entries.js';
import { type CachedResponse, decodeEntry, encodeEntry } from './entry-codec.js';

const response = (body: string): CachedResponse => ({
  status: 200,
  headers: { 'content-type': 'application/json; charset=utf-8' },
  body: Buffer.from(body),
  storedAt: 1_700_000_000_000,
  etag: '"abc"',
});

describe('DecodedEntries', () => {
  it('gives back the entry decoded from the same bytes, and nothing for any other bytes', async () => {
    const memo = new DecodedEntries();
    const stored = await encodeEntry(response('{"a":1}'), 1024);
    const entry = await decodeEntry(stored);
    memo.set('d1', stored, entry);
    // An equal value in another buffer (each reply is a new one).
    expect(memo.get('d1', Buffer.from(stored))).toBe(entry);
    // The same key rewritten (here, one byte of the body): decoded anew, never the old entry.
    const rewritten = Buffer.from(stored);
    rewritten[rewritten.length - 2] ^= 1;
    expect(memo.get('d1', rewritten)).toBeUndefined();
    // A corrupt value under a kept digest is not answered from the memo either.
    expect(memo.get('d1', Buffer.from('RSC1 garbage'))).toBeUndefined();
    expect(memo.get('d2', stored)).toBeUndefined();
  });

  it('keeps a copy of the stored value: a reply buffer reused later cannot alter it', async () => {
    const memo = new DecodedEntries();
    const stored = await encodeEntry(response('{"a":1}'), 1024);
    const entry = await decodeEntry(stored);
    const reply = Buffer.from(stored);
    memo.set('d1', reply, entry);
    reply.fill(0);
    expect(memo.get('d1', stored)).toBe(entry);
    expect(memo.get('d1', reply)).toBeUndefined();
  });

  it('is bounded in bytes, oldest first, and never keeps a value over its per-entry bound', async () => {
    const stored = await encodeEntry(response('x'.repeat(100)), 1024);
    const entry = await decodeEntry(stored);
    const perEntry = stored.length + entry.body.length;
    const memo = new DecodedEntries(perEntry * 2, stored.length);
    memo.set('a', stored, entry);
    memo.set('b', stored, entry);
    memo.set('c', stored, entry);
    expect(memo.size).toBe(2);
    expect(memo.get('a', stored)).toBeUndefined();
    expect(memo.get('c', stored)).toBe(entry);

    const small = new DecodedEntries(perEntry * 10, stored.length - 1);
    small.set('a', stored, entry);
    expect(small.size).toBe(0);
  });
});
