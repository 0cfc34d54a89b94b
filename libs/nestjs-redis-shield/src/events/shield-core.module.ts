import { Global, Module } from '@nestjs/common';
import { ShieldEvents } from './shield-events.js';
import { ShieldStatus } from './shield-status.js';

/**
 * Holds what every part of the library shares, once per application: the internal
 * event bus and the status registry. Imported by the library's modules; global so one instance serves all.
 */
@Global()
@Module({ providers: [ShieldEvents, ShieldStatus], exports: [ShieldEvents, ShieldStatus] })
export class ShieldCoreModule {}
