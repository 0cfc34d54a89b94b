import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { createApp } from '../src/app.factory.js';
import { loadConfig } from '../src/config/load-config.js';
import { startBuiltDemo } from './support/built-demo.js';

type Operation = {
  security?: Record<string, string[]>[];
  responses: Record<string, { content?: unknown; headers?: Record<string, unknown> }>;
};
type OpenApi = {
  paths: Record<string, Record<string, Operation>>;
  components: {
    securitySchemes?: Record<string, unknown>;
    schemas: Record<string, { properties?: Record<string, unknown> }>;
  };
};

const SYSTEM_OPERATIONS: [string, string, 'admin' | 'anyone'][] = [
  ['/api/v1/system/cache/stats', 'get', 'admin'],
  ['/api/v1/system/cache/clear', 'delete', 'admin'],
  ['/api/v1/system/cache/user/{user_id}', 'delete', 'admin'],
  ['/api/v1/system/cache/endpoint', 'delete', 'admin'],
  ['/api/v1/system/cache/invalidate', 'post', 'admin'],
  ['/api/v1/system/rate-limit/status', 'get', 'anyone'],
  ['/api/v1/system/rate-limit/clients/{client}', 'delete', 'admin'],
];

/** The document `npm start` serves: the built demo in a child process, without Redis. */
async function documentFromBuiltDemo(): Promise<OpenApi> {
  const demo = await startBuiltDemo();
  try {
    return (await (await fetch(`${demo.url}/api/docs-json`)).json()) as OpenApi;
  } finally {
    await demo.stop();
  }
}

describe('OpenAPI document', () => {
  let app: INestApplication;
  let doc: OpenApi;

  beforeAll(async () => {
    const result = loadConfig({ REDIS_URL: 'redis://127.0.0.1:1' });
    if (!result.ok) throw new Error(result.errors.join('\n'));
    app = await createApp(result.config, { logger: false });
    await app.listen(0, '127.0.0.1');
    doc = (
      await request(await app.getUrl())
        .get('/api/docs-json')
        .expect(200)
    ).body as OpenApi;
  });

  afterAll(async () => {
    await app?.close();
  });

  it.each(SYSTEM_OPERATIONS)('%s %s is documented with its security and the 429', (path, method, who) => {
    const operation = doc.paths[path]?.[method];
    expect(operation).toBeDefined();
    if (who === 'admin') {
      expect(operation.security).toEqual([{ bearer: [] }]);
      expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(['200', '401', '403', '429']));
      expect(operation.responses['429'].headers).toHaveProperty('Retry-After');
    } else {
      expect(operation.security ?? []).toEqual([]);
      // The status endpoint has a limit of its own.
      expect(operation.responses['429'].headers).toHaveProperty('Retry-After');
    }
  });

  it('documents the count and first time of each violation entry', () => {
    expect(Object.keys(doc.components.schemas.ViolationEntry.properties ?? {})).toEqual(
      expect.arrayContaining(['at', 'timestamp', 'first_at', 'first_timestamp', 'count', 'client', 'shadow']),
    );
  });

  it('documents the 429 body, the bearer scheme, the demo routes and Swagger UI', async () => {
    expect(Object.keys(doc.components.schemas.RateLimitExceededResponse.properties ?? {})).toEqual([
      'error',
      'message',
      'reset_time',
      'retry_after',
    ]);
    expect(doc.components.securitySchemes).toHaveProperty('bearer');
    for (const path of [
      '/api/v1/models',
      '/api/v1/models/{id}',
      '/api/v1/analytics/usage',
      '/api/v1/completions',
      '/api/v1/health',
    ]) {
      expect(doc.paths).toHaveProperty([path]);
    }
    expect(doc.paths['/api/v1/models'].get.responses['429']).toBeDefined();
    const ui = await request(await app.getUrl())
      .get('/api/docs')
      .expect(200);
    expect(ui.text).toContain('swagger');
  });

  it('is identical whether produced by the test app or by npm start', async () => {
    expect(await documentFromBuiltDemo()).toEqual(doc);
  }, 30_000);
});
