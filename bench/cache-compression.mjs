// Memory saved by entry compression: a 200-model JSON list as the cache stores it.
// Usage: npm run bench:cache-compression
// The codec is internal to the package, so it is loaded from the build output.
import { encodeEntry } from '../libs/nestjs-redis-shield/dist/cache/engine/entry-codec.js';

const body = Buffer.from(
  JSON.stringify({
    data: Array.from({ length: 200 }, (_, i) => ({
      id: `model-${i}`,
      name: `Model ${i}`,
      provider: ['openai', 'anthropic', 'meta'][i % 3],
      context_window: 8192 * (1 + (i % 4)),
    })),
    generated_at: new Date().toISOString(),
  }),
);
const entry = {
  status: 200,
  headers: { 'content-type': 'application/json; charset=utf-8' },
  body,
  storedAt: Date.now(),
  etag: '"x"',
};
const stored = await encodeEntry(entry, 1024);
process.stdout.write(
  `cache compression: ${body.length} B body stored as ${stored.length} B (${((stored.length / body.length) * 100).toFixed(1)} %)\n`,
);
