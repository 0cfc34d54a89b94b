import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createApp } from './app.factory.js';
import { loadConfig } from './config/load-config.js';
import { rateLimitOptionErrors } from './rate-limit.config.js';

// Configuration is checked before Nest starts: one line per bad variable, exit 1, no stack.
// Then the library's own checks of the options built from it (the rate-limit policies),
// which would otherwise throw from inside Nest, logged with a stack trace.
const result = loadConfig(process.env);
const errors = result.ok ? rateLimitOptionErrors(result.config) : result.errors;
if (!result.ok || errors.length > 0) {
  process.stderr.write(`${errors.join('\n')}\n`);
  process.exit(1);
}

const logger = new Logger('Bootstrap');
for (const warning of result.warnings) logger.warn(warning);

const app = await createApp(result.config);
await app.listen(result.config.port);
logger.log(`Demo API listening on ${await app.getUrl()}/api/v1`);

/** Longest a shutdown may take before the process gives up on a clean exit, in ms. */
const SHUTDOWN_TIMEOUT_MS = 10_000;

// Graceful shutdown: stop accepting, let requests in flight finish, flush buffers into
// Redis, close the connections — then the process exits 0 by itself, with nothing left
// open. (Nest's enableShutdownHooks would re-raise the signal instead of exiting 0.)
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    logger.log(`${signal} received: closing`);
    setTimeout(() => {
      logger.error(`not closed after ${SHUTDOWN_TIMEOUT_MS} ms: exiting`);
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS).unref();
    app.close().then(
      () => logger.log('closed'),
      (error: unknown) => {
        logger.error(`shutdown failed: ${String(error)}`);
        process.exitCode = 1;
      },
    );
  });
}
