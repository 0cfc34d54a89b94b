import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createApp } from './app.factory.js';
import { loadConfig } from './config/load-config.js';

// Configuration is checked before Nest starts: one line per bad variable, exit 1, no stack.
const result = loadConfig(process.env);
if (!result.ok) {
  process.stderr.write(`${result.errors.join('\n')}\n`);
  process.exit(1);
}

const logger = new Logger('Bootstrap');
for (const warning of result.warnings) logger.warn(warning);

const app = await createApp(result.config);
await app.listen(result.config.port);
logger.log(`Demo API listening on ${await app.getUrl()}/api/v1`);
