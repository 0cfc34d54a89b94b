import { Global, Module } from '@nestjs/common';
import { ShieldEvents } from './shield-events.js';

/**
 * Holds what every part of the library shares, once per application: the internal
 * event bus. Imported by the library's modules; global so one instance serves all.
 */
@Global()
@Module({ providers: [ShieldEvents], exports: [ShieldEvents] })
export class ShieldCoreModule {}
