import { jest } from '@jest/globals';
import { VersioningType } from '@nestjs/common';
import { apiVersionOf } from './api-version.js';

/** A request with these headers (lower-case names). */
const request = (headers: Record<string, string> = {}) => ({ header: (name: string) => headers[name] });
const noRequest = () => {
  throw new Error('the adapter request is read by a custom extractor only');
};

describe('apiVersionOf', () => {
  it('is undefined without versioning and with URI versioning (the version is in the path)', () => {
    const headers = request({ 'x-api-version': '2', accept: 'application/json;v=2' });
    expect(apiVersionOf(undefined, headers, noRequest)).toBeUndefined();
    expect(apiVersionOf({ type: VersioningType.URI }, headers, noRequest)).toBeUndefined();
  });

  it('reads the named header, whatever the case it was configured in', () => {
    const versioning = { type: VersioningType.HEADER, header: 'X-API-Version' } as const;
    expect(apiVersionOf(versioning, request({ 'x-api-version': '2' }), noRequest)).toBe('2');
    expect(apiVersionOf(versioning, request(), noRequest)).toBeUndefined();
  });

  it('reads the media-type parameter of Accept', () => {
    const versioning = { type: VersioningType.MEDIA_TYPE, key: 'v=' } as const;
    expect(apiVersionOf(versioning, request({ accept: 'application/json;v=2' }), noRequest)).toBe('2');
    expect(apiVersionOf(versioning, request({ accept: 'text/html, application/json; v=3' }), noRequest)).toBe('3');
    expect(apiVersionOf(versioning, request({ accept: 'application/json' }), noRequest)).toBeUndefined();
    expect(apiVersionOf(versioning, request(), noRequest)).toBeUndefined();
  });

  it("asks a custom extractor with the adapter's request, joining a list", () => {
    const adapterRequest = { query: { version: '4' } };
    const extractor = jest.fn((req: unknown) => (req as typeof adapterRequest).query.version);
    expect(apiVersionOf({ type: VersioningType.CUSTOM, extractor }, request(), () => adapterRequest)).toBe('4');
    expect(extractor).toHaveBeenCalledWith(adapterRequest);
    const many = { type: VersioningType.CUSTOM, extractor: () => ['2', '1'] } as const;
    expect(apiVersionOf(many, request(), () => adapterRequest)).toBe('2,1');
  });
});
