import { Global, Module } from '@nestjs/common';
import { ShieldEvents } from './events/shield-events.js';
import { RequestPrefetch } from './events/request-prefetch.js';
import { ShieldStatus } from './events/shield-status.js';

/**
 * Holds what every part of the library shares, once per application: the internal
 * event bus, the status registry and the request prefetch hooks. Imported by the library's modules; global so one instance serves all.
 */
@Global()
@Module({
  providers: [ShieldEvents, ShieldStatus, RequestPrefetch],
  exports: [ShieldEvents, ShieldStatus, RequestPrefetch],
})
export class ShieldCoreModule {}
