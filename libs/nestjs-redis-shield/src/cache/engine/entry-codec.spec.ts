import { promisify } from 'node:util';
import { brotliCompress } from 'node:zlib';
import { shieldErrorCode } from '../../core/errors.js';
import { type CachedResponse, CorruptEntryError, decodeEntry, encodeEntry } from './entry-codec.js';

const entry = (body: Buffer): CachedResponse => ({
  status: 200,
  headers: { 'content-type': 'application/json; charset=utf-8' },
  body,
  storedAt: 1_700_000_000_000,
  etag: '"abc"',
});

/** An entry as anything with write access to Redis could store it: our framing, its metadata. */
function forged(meta: unknown, body = Buffer.from('{}'), flags = 0): Buffer {
  const json = Buffer.from(JSON.stringify(meta));
  const header = Buffer.alloc(9);
  Buffer.from('RSC1').copy(header);
  header.writeUInt8(flags, 4);
  header.writeUInt32BE(json.length, 5);
  return Buffer.concat([header, json, body]);
}

const GOOD_META = { s: 200, h: { 'content-type': 'application/json' }, t: 1, e: '"abc"' };

describe('entry codec', () => {
  it('round-trips small bodies byte for byte, uncompressed', async () => {
    const body = Buffer.from([0, 255, 1, 2, 3]);
    const encoded = await encodeEntry(entry(body), 1024);
    expect(encoded.length).toBeLessThan(body.length + 200);
    expect(await decodeEntry(encoded)).toEqual(entry(body));
  });

  it('compresses large repetitive bodies and restores them exactly', async () => {
    const body = Buffer.from(
      JSON.stringify({ data: Array.from({ length: 500 }, (_, i) => ({ id: i, name: `model-${i}` })) }),
    );
    const encoded = await encodeEntry(entry(body), 1024);
    expect(encoded.length).toBeLessThan(body.length / 4);
    expect((await decodeEntry(encoded)).body.equals(body)).toBe(true);
  });

  it('keeps incompressible bodies as they are', async () => {
    const body = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) % 256));
    const encoded = await encodeEntry(entry(body), 1024);
    expect((await decodeEntry(encoded)).body.equals(body)).toBe(true);
  });

  it.each([
    ['garbage', Buffer.from('not an entry at all')],
    ['an empty value', Buffer.alloc(0)],
    ['truncated metadata', Buffer.concat([Buffer.from('RSC1'), Buffer.from([0, 0, 0, 0, 99]), Buffer.from('{}')])],
    ['broken JSON', Buffer.concat([Buffer.from('RSC1'), Buffer.from([0, 0, 0, 0, 2]), Buffer.from('{x')])],
    [
      'a bad compressed body',
      Buffer.concat([
        Buffer.from('RSC1'),
        Buffer.from([1, 0, 0, 0, 37]),
        Buffer.from('{"s":200,"h":{},"t":1,"e":"\\"x\\""}  '),
        Buffer.from('zzzz'),
      ]),
    ],
  ])('rejects %s as corrupt', async (_name, value) => {
    await expect(decodeEntry(value)).rejects.toBeInstanceOf(CorruptEntryError);
    const error: unknown = await decodeEntry(value).catch((caught: unknown) => caught);
    expect(shieldErrorCode(error)).toBe('SHIELD_E021');
  });

  describe('a stored value is not trusted', () => {
    const limits = { maxBodyBytes: 1024, headerNames: new Set(['content-type', 'etag', 'cache-control']) };

    it('accepts what the codec itself wrote, within the limits', async () => {
      const encoded = await encodeEntry(entry(Buffer.from('{"ok":true}')), 1024);
      expect((await decodeEntry(encoded, limits)).body.toString()).toBe('{"ok":true}');
      expect((await decodeEntry(forged(GOOD_META), limits)).status).toBe(200);
    });

    it.each([
      [
        'a header that could split the response',
        { ...GOOD_META, h: { 'content-type': 'text/html\r\nSet-Cookie: a=b' } },
      ],
      ['a header outside the allowlist', { ...GOOD_META, h: { 'set-cookie': 'session=stolen' } }],
      ['a header name that is not a token', { ...GOOD_META, h: { 'content type': 'x' } }],
      ['a header value that is not a string', { ...GOOD_META, h: { 'content-type': { nested: true } } }],
      ['headers that are an array', { ...GOOD_META, h: ['content-type'] }],
      ['a status that is never stored', { ...GOOD_META, s: 302 }],
      ['an ETag that is not a quoted digest', { ...GOOD_META, e: '"x"\r\nX: y' }],
      ['a time that is not finite', { ...GOOD_META, t: null }],
      [
        'too many headers',
        { ...GOOD_META, h: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`x-${i}`, 'v'])) },
      ],
    ])('rejects %s as corrupt', async (_name, meta) => {
      await expect(decodeEntry(forged(meta), limits)).rejects.toBeInstanceOf(CorruptEntryError);
    });

    it('stops decompressing at maxBodyBytes instead of exhausting memory (a compression bomb)', async () => {
      const bomb = await promisify(brotliCompress)(Buffer.alloc(8 * 1024 * 1024));
      expect(bomb.length).toBeLessThan(64 * 1024);
      await expect(decodeEntry(forged(GOOD_META, bomb, 1), limits)).rejects.toBeInstanceOf(CorruptEntryError);
    });

    it('rejects an uncompressed body over maxBodyBytes', async () => {
      await expect(decodeEntry(forged(GOOD_META, Buffer.alloc(1025)), limits)).rejects.toBeInstanceOf(
        CorruptEntryError,
      );
    });
  });
});
