import { hashId } from '../../core/hmac-id.js';
import { KeyBuilder } from '../../redis/engine/key-builder.js';
import {
  BUS_PROTOCOL_VERSION,
  type BusMessage,
  deliveryLagMs,
  encodeBusMessage,
  MAX_BUS_MESSAGE_BYTES,
  parseBusMessage,
  validateBusMessage,
} from './bus-message.js';
import { resolveBusOptions } from './bus.options.js';
import { clusterSlot } from './cluster-slot.js';

const FROM = 'instance-A-0123456';
const CLIENT = hashId('secret', 'user:42');
const wire = (fields: Record<string, unknown>) => JSON.stringify({ v: BUS_PROTOCOL_VERSION, from: FROM, ...fields });

describe('bus messages', () => {
  const valid: BusMessage[] = [
    { type: 'ratelimit.reset', client: CLIENT },
    { type: 'cache.invalidate', scope: 'all' },
    { type: 'cache.invalidate', scope: 'key', value: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
    { type: 'cache.invalidate', scope: 'route', value: 'GET /api/v1/models/:id' },
    { type: 'cache.invalidate', scope: 'user', value: hashId('secret', 'user:42') },
    { type: 'cache.invalidate', scope: 'tag', value: hashId('secret', 'tag:models') },
    { type: 'cache.invalidate', scope: 'version', value: '1718000000123' },
  ];

  it.each(valid)('round-trips %j with its sender', (message) => {
    const payload = encodeBusMessage(message, FROM);
    expect(JSON.parse(payload)).toEqual({ v: BUS_PROTOCOL_VERSION, from: FROM, ...message });
    expect(parseBusMessage(payload)).toEqual({ ok: true, message, from: FROM });
    expect(parseBusMessage(Buffer.from(payload))).toEqual({ ok: true, message, from: FROM });
  });

  it('keeps only the known fields of a message', () => {
    const payload = `{"v":1,"from":"${FROM}","type":"ratelimit.reset","client":"${CLIENT}","x":1,"__proto__":{"a":1}}`;
    const parsed = parseBusMessage(payload);
    expect(parsed).toEqual({ ok: true, message: { type: 'ratelimit.reset', client: CLIENT }, from: FROM });
    expect(Object.keys((parsed as { message: object }).message)).toEqual(['type', 'client']);
  });

  it.each([
    ['too-large', 'x'.repeat(MAX_BUS_MESSAGE_BYTES + 1)],
    // The cap is on bytes: 2000 three-byte characters are 6000 bytes.
    ['too-large', wire({ type: 'cache.invalidate', scope: 'route', value: '€'.repeat(2000) })],
    ['not-json', '{"v":1,'],
    ['not-json', ''],
    ['not-json', Buffer.from([0xff, 0xfe, 0x00])],
    ['malformed', 'null'],
    ['malformed', '42'],
    ['malformed', '"ratelimit.reset"'],
    ['malformed', '[1,2]'],
    ['malformed', JSON.stringify({ v: 1, type: 'ratelimit.reset', client: CLIENT })],
    ['malformed', wire({ from: 'short', type: 'ratelimit.reset', client: CLIENT })],
    ['malformed', wire({ from: 42, type: 'ratelimit.reset', client: CLIENT })],
    ['unknown-version', wire({ v: 2, type: 'ratelimit.reset', client: CLIENT })],
    ['unknown-version', wire({ v: '1', type: 'ratelimit.reset', client: CLIENT })],
    ['unknown-version', wire({ v: undefined, type: 'ratelimit.reset', client: CLIENT })],
    ['unknown-type', wire({ type: 'ratelimit.flush', client: CLIENT })],
    ['unknown-type', wire({ type: '__proto__' })],
    ['unknown-type', wire({})],
    // A raw client id is refused: only its HMAC may travel.
    ['invalid', wire({ type: 'ratelimit.reset', client: 'user:42' })],
    ['invalid', wire({ type: 'ratelimit.reset', client: `${CLIENT}x` })],
    ['invalid', wire({ type: 'ratelimit.reset', client: 42 })],
    ['invalid', wire({ type: 'ratelimit.reset' })],
    ['invalid', wire({ type: 'cache.invalidate', scope: 'user', value: '42' })],
    ['invalid', wire({ type: 'cache.invalidate', scope: 'user', value: 'alice@example.com' })],
    ['invalid', wire({ type: 'cache.invalidate', scope: 'tag', value: 'models' })],
    ['invalid', wire({ type: 'cache.invalidate', scope: 'key', value: '/api/v1/models?user=42' })],
    ['invalid', wire({ type: 'cache.invalidate', scope: 'route', value: '' })],
    ['invalid', wire({ type: 'cache.invalidate', scope: 'route', value: 'GET /a\nSET x' })],
    ['invalid', wire({ type: 'cache.invalidate', scope: 'route', value: 'x'.repeat(513) })],
    ['invalid', wire({ type: 'cache.invalidate', scope: 'version', value: '1 2' })],
    ['invalid', wire({ type: 'cache.invalidate', scope: 'all', value: 'x' })],
    ['invalid', wire({ type: 'cache.invalidate', scope: 'everything' })],
    ['invalid', wire({ type: 'cache.invalidate', scope: 'hasOwnProperty', value: 'x' })],
    ['invalid', wire({ type: 'cache.invalidate', scope: 'key' })],
    ['invalid', wire({ type: 'cache.invalidate' })],
  ])('ignores a payload as %s (case %#)', (reason, payload) => {
    expect(parseBusMessage(payload)).toEqual({ ok: false, reason });
  });

  it('carries the send time when given one, and reads messages of senders that put none', () => {
    const message: BusMessage = { type: 'ratelimit.reset', client: CLIENT };
    const sentAt = 1_767_225_600_123;
    const payload = encodeBusMessage(message, FROM, sentAt);
    expect(JSON.parse(payload)).toEqual({ v: BUS_PROTOCOL_VERSION, from: FROM, at: sentAt, ...message });
    expect(parseBusMessage(payload)).toEqual({ ok: true, message, from: FROM, sentAt });
    expect(parseBusMessage(wire({ at: 0, ...message }))).toEqual({ ok: true, message, from: FROM, sentAt: 0 });
    // An older sender: no `at`, no send time (not a send time of 0 or NaN).
    const old = parseBusMessage(encodeBusMessage(message, FROM));
    expect(old).toEqual({ ok: true, message, from: FROM });
    expect(Object.keys(old)).not.toContain('sentAt');
  });

  it.each([[-1], [1.5], ['1767225600123'], [null], [Number.MAX_SAFE_INTEGER + 2], [true], [{}]])(
    'ignores a message whose send time is %j as malformed',
    (at) => {
      expect(parseBusMessage(wire({ at, type: 'ratelimit.reset', client: CLIENT }))).toEqual({
        ok: false,
        reason: 'malformed',
      });
    },
  );

  it("leaves the send time of another version to that version's reader", () => {
    expect(parseBusMessage(wire({ v: 2, at: 'later', type: 'ratelimit.reset', client: CLIENT }))).toEqual({
      ok: false,
      reason: 'unknown-version',
    });
  });

  it('measures the delivery lag as receive time minus send time, a negative one (clock skew) as 0', () => {
    expect(deliveryLagMs(1000, 1000)).toBe(0);
    expect(deliveryLagMs(1000, 1042)).toBe(42);
    // The sender's clock runs 250 ms ahead of the receiver's: the message seems to arrive before it was sent.
    expect(deliveryLagMs(1250, 1003)).toBe(0);
  });

  it('refuses to validate what the parser would refuse', () => {
    expect(validateBusMessage({ type: 'ratelimit.reset', client: 'ip:203.0.113.7' })).toBeUndefined();
    expect(validateBusMessage({ type: 'cache.invalidate', scope: 'user', value: 'user:42' })).toBeUndefined();
    expect(validateBusMessage(null)).toBeUndefined();
    expect(validateBusMessage('ratelimit.reset')).toBeUndefined();
  });
});

describe('bus channel and options', () => {
  it('names one channel per key prefix, with one hash tag', () => {
    expect(new KeyBuilder({ prefix: '', hashSecret: 's' }).busChannel()).toBe('bus:{instance}');
    expect(new KeyBuilder({ prefix: 'app1:', hashSecret: 's' }).busChannel()).toBe('app1:bus:{instance}');
    expect(clusterSlot('app1:bus:{instance}')).toBe(clusterSlot('bus:{instance}'));
  });

  it('computes Cluster slots as Redis does', () => {
    // Values from CLUSTER KEYSLOT (the Redis Cluster specification's CRC16 check value for 123456789 is 0x31C3).
    expect(clusterSlot('123456789')).toBe(0x31c3);
    expect(clusterSlot('foo')).toBe(12182);
    expect(clusterSlot('{user1000}.following')).toBe(clusterSlot('{user1000}.followers'));
    expect(clusterSlot('{user1000}.following')).toBe(clusterSlot('user1000'));
    // An empty tag is no tag: the whole name is hashed.
    expect(clusterSlot('foo{}{bar}')).not.toBe(clusterSlot('bar'));
    expect(clusterSlot('foo{{bar}}zap')).toBe(clusterSlot('{bar'));
  });

  it('applies defaults and derives a heartbeat that notices a silent outage within half of staleAfterMs', () => {
    expect(resolveBusOptions()).toEqual({
      enabled: true,
      staleAfterMs: 5000,
      publishTimeoutMs: 1000,
      heartbeatMs: 1000,
      maxReconnectDelayMs: 2000,
    });
    const short = resolveBusOptions({ staleAfterMs: 400, enabled: false, publishTimeoutMs: 50 }, 500);
    expect(short).toEqual({
      enabled: false,
      staleAfterMs: 400,
      publishTimeoutMs: 50,
      heartbeatMs: 100,
      maxReconnectDelayMs: 500,
    });
  });

  it.each([
    [{ staleAfterMs: 99 }, /bus\.staleAfterMs=99: expected an integer >= 100/],
    [{ staleAfterMs: 1.5e3 + 0.5 }, /bus\.staleAfterMs/],
    [{ publishTimeoutMs: 0 }, /bus\.publishTimeoutMs=0/],
    [{ enabled: 'yes' as unknown as boolean }, /bus\.enabled="yes"/],
  ])('refuses %j', (options, message) => {
    expect(() => resolveBusOptions(options)).toThrow(message);
  });
});
