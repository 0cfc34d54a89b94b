import { StreamableFile } from '@nestjs/common';
import { Readable } from 'node:stream';
import { capture, markPrivate } from './response-capture.js';

describe('capture', () => {
  it('sends a string as is, as HTML', () => {
    expect(capture('<p>hi</p>')).toEqual({
      body: Buffer.from('<p>hi</p>'),
      contentType: 'text/html; charset=utf-8',
    });
    expect(capture('')).toEqual({ body: Buffer.alloc(0), contentType: 'text/html; charset=utf-8' });
  });

  it('sends anything else as its JSON, as the adapters do', () => {
    const json = 'application/json; charset=utf-8';
    expect(capture({ id: 1, name: 'é' })).toEqual({ body: Buffer.from('{"id":1,"name":"é"}'), contentType: json });
    expect(capture([1, 2])).toEqual({ body: Buffer.from('[1,2]'), contentType: json });
    expect(capture(0)).toEqual({ body: Buffer.from('0'), contentType: json });
    expect(capture(false)).toEqual({ body: Buffer.from('false'), contentType: json });
    expect(capture({ toJSON: () => ({ shaped: true }) })?.body.toString()).toBe('{"shaped":true}');
  });

  it('captures nothing for an empty result, binary data, streams or a value without JSON', () => {
    expect(capture(undefined)).toBeUndefined();
    expect(capture(null)).toBeUndefined();
    expect(capture(Buffer.from('bytes'))).toBeUndefined();
    expect(capture(new Uint8Array([1, 2]))).toBeUndefined();
    expect(capture(Readable.from(['a']))).toBeUndefined();
    expect(capture(new StreamableFile(Buffer.from('file')))).toBeUndefined();
    expect(capture(() => 1)).toBeUndefined();
    expect(capture(Symbol('s'))).toBeUndefined();
  });
});

describe('markPrivate', () => {
  /** Response headers as the facade reads and sets them. */
  function response(initial: Record<string, string> = {}) {
    const headers = new Map(Object.entries(initial));
    return {
      headers,
      responseHeader: (name: string) => headers.get(name),
      setHeader: (name: string, value: string) => void headers.set(name.toLowerCase(), value),
    };
  }

  it('adds private and Vary: Authorization to a response without them', () => {
    const res = response();
    markPrivate(res);
    expect(Object.fromEntries(res.headers)).toEqual({ 'cache-control': 'private', vary: 'Authorization' });
  });

  it('prepends private to the Cache-Control set and appends Authorization to the Vary set', () => {
    const res = response({ 'cache-control': 'max-age=60', vary: 'Accept-Language' });
    markPrivate(res);
    expect(Object.fromEntries(res.headers)).toEqual({
      'cache-control': 'private, max-age=60',
      vary: 'Accept-Language, Authorization',
    });
  });

  it('leaves headers that already say so (any case) untouched', () => {
    const res = response({ 'cache-control': 'PRIVATE, max-age=5', vary: 'authorization' });
    markPrivate(res);
    expect(Object.fromEntries(res.headers)).toEqual({ 'cache-control': 'PRIVATE, max-age=5', vary: 'authorization' });
  });

  it('matches whole words only', () => {
    const res = response({ 'cache-control': 'privateish', vary: 'x-authorizations' });
    markPrivate(res);
    expect(Object.fromEntries(res.headers)).toEqual({
      'cache-control': 'private, privateish',
      vary: 'x-authorizations, Authorization',
    });
  });
});
