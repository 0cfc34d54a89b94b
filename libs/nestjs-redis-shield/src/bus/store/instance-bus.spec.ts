import { EventEmitter } from 'node:events';
import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { CaptureLogger } from '../../../../../test/support/capture-logger.js';
import { type BusDeliveryEvent, ShieldEvents } from '../../core/events/shield-events.js';
import { hashId } from '../../core/hmac-id.js';
import type { RedisConnection } from '../../redis/store/redis.connection.js';
import { type BusMessage, encodeBusMessage } from '../engine/bus-message.js';
import { resolveBusOptions } from '../engine/bus.options.js';
import { InstanceBus } from './instance-bus.js';

const CHANNEL = 'bus:{instance}';
const OTHER = 'other-instance-0001';
const RESET: BusMessage = { type: 'ratelimit.reset', client: hashId('secret', 'user:42') };
const NOW = Date.parse('2030-01-01T00:00:00Z');

/** The subscriber's connection, as far as the bus uses it: the test delivers payloads on it. */
class FakeSubscriber extends EventEmitter {
  status = 'wait';
  async connect(): Promise<void> {
    this.status = 'ready';
  }
  async subscribe(): Promise<number> {
    return 1;
  }
  async ping(): Promise<string> {
    return 'PONG';
  }
  disconnect(): void {
    this.status = 'end';
    this.emit('end');
  }
  /** A payload arriving on the channel, as ioredis reports it. */
  deliver(payload: string): void {
    this.emit('messageBuffer', Buffer.from(CHANNEL), Buffer.from(payload));
  }
}

/** A bus over a connection whose subscriber the test drives, and what it emitted. */
async function setup() {
  const subscriber = new FakeSubscriber();
  const connection = {
    name: 'default',
    keys: { busChannel: () => CHANNEL },
    client: { duplicate: () => subscriber },
    noteOutage: () => undefined,
  };
  const events = new ShieldEvents();
  const delivered: BusDeliveryEvent[] = [];
  events.on('bus.delivery', (event) => delivered.push(event));
  const bus = new InstanceBus(connection as unknown as RedisConnection, resolveBusOptions(), events);
  const handled: BusMessage[] = [];
  bus.on('ratelimit.reset', (message) => void handled.push(message));
  await jest.advanceTimersByTimeAsync(0);
  expect(bus.connected).toBe(true);
  return { bus, subscriber, delivered, handled };
}

let logger: CaptureLogger;

beforeEach(() => {
  jest.useFakeTimers({ now: NOW });
  logger = new CaptureLogger();
  Logger.overrideLogger(logger);
});

afterEach(() => {
  jest.useRealTimers();
});

describe('InstanceBus delivery lag', () => {
  it('measures each message from another instance by its send time: last, max, count and one bus.delivery event', async () => {
    const { bus, subscriber, delivered, handled } = await setup();
    expect(bus.stats().lag).toEqual({ measured: 0, lastMs: null, maxMs: null });
    subscriber.deliver(encodeBusMessage(RESET, OTHER, NOW - 12));
    subscriber.deliver(encodeBusMessage(RESET, OTHER, NOW - 40));
    subscriber.deliver(encodeBusMessage(RESET, OTHER, NOW - 3));
    expect(handled).toHaveLength(3);
    expect(bus.stats().lag).toEqual({ measured: 3, lastMs: 3, maxMs: 40 });
    expect(delivered).toEqual([
      { connection: 'default', lagMs: 12 },
      { connection: 'default', lagMs: 40 },
      { connection: 'default', lagMs: 3 },
    ]);
    // stats() is a copy: changing it changes nothing.
    bus.stats().lag.maxMs = 0;
    expect(bus.stats().lag.maxMs).toBe(40);
    await bus.onApplicationShutdown();
  });

  it('counts a message sent "later" by a sender whose clock runs ahead (skew) as 0 ms, never negative', async () => {
    const { bus, subscriber, delivered, handled } = await setup();
    subscriber.deliver(encodeBusMessage(RESET, OTHER, NOW + 250));
    expect(handled).toHaveLength(1);
    expect(bus.stats().lag).toEqual({ measured: 1, lastMs: 0, maxMs: 0 });
    expect(delivered).toEqual([{ connection: 'default', lagMs: 0 }]);
    await bus.onApplicationShutdown();
  });

  it('measures nothing for a sender that puts no send time, for its own echo, or for a bad send time', async () => {
    const { bus, subscriber, delivered, handled } = await setup();
    subscriber.deliver(encodeBusMessage(RESET, OTHER)); // an instance of an earlier version
    subscriber.deliver(encodeBusMessage(RESET, bus.instanceId, NOW - 500)); // its own echo
    subscriber.deliver(JSON.stringify({ v: 1, from: OTHER, at: -5, ...RESET }));
    expect(handled).toHaveLength(1);
    expect(bus.stats()).toMatchObject({ received: 1, lag: { measured: 0, lastMs: null, maxMs: null } });
    expect(bus.stats().ignored.malformed).toBe(1);
    expect(logger.of('InstanceBus:default').map(({ level }) => level)).toContain('warn');
    expect(delivered).toEqual([]);
    await bus.onApplicationShutdown();
  });
});
