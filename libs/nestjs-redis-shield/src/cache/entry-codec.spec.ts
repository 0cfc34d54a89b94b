import { type CachedResponse, CorruptEntryError, decodeEntry, encodeEntry } from './entry-codec.js';

const entry = (body: Buffer): CachedResponse => ({
  status: 200,
  headers: { 'content-type': 'application/json; charset=utf-8' },
  body,
  storedAt: 1_700_000_000_000,
  etag: '"abc"',
});

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
  });
});
