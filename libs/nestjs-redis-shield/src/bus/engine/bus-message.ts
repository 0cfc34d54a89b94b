import { HASHED_ID_LENGTH } from '../../core/hmac-id.js';

/**
 * The version of the bus's wire format. A message with another `v` is ignored (and
 * counted), so a rolling upgrade that changes the meaning of a field must publish under
 * a new version while old instances still read this one. Adding an optional field does
 * not need a new version: unknown fields are dropped by the parser.
 */
export const BUS_PROTOCOL_VERSION = 1;

/**
 * The largest message read, in bytes. Anything with Redis access can publish on the
 * channel: a larger payload is dropped before it is decoded or parsed.
 */
export const MAX_BUS_MESSAGE_BYTES = 4096;

/**
 * Every instance must drop what it keeps locally about one client: its block-cache
 * entries and its in-memory fallback state. Published after an admin reset.
 */
export interface RateLimitResetMessage {
  type: 'ratelimit.reset';
  /** The HMAC of the client id (`keys.hashId('user:42')`, 22 characters), never the raw id. */
  client: string;
}

/** What a cache invalidation covers. */
export type CacheInvalidationScope = 'key' | 'route' | 'user' | 'tag' | 'all' | 'version';

/**
 * Every instance must drop the matching entries of its in-process (L1) cache. `value` is
 * an entry digest or HMAC (`key`), a route id or its HMAC (`route`), the HMAC of a user
 * id or of a tag (`user`, `tag`), or the new cache version (`version`); never a raw user
 * id. `all` has no value.
 */
export type CacheInvalidateMessage =
  | { type: 'cache.invalidate'; scope: 'all' }
  | { type: 'cache.invalidate'; scope: Exclude<CacheInvalidationScope, 'all'>; value: string };

/**
 * A lease holder finished computing an entry (see the response cache's cross-instance
 * single-flight): `stored` when the entry is now in Redis (requests waiting for it read
 * it; L1 copies of an older value go), otherwise the waiters run their own handler. A
 * forged message costs the receivers one read each, nothing more.
 */
export interface CacheFilledMessage {
  type: 'cache.filled';
  /** The entry digest. */
  digest: string;
  /** Whether the entry was stored. */
  stored: boolean;
}

/** Every message the instance bus carries, told apart by `type`. */
export type BusMessage = RateLimitResetMessage | CacheInvalidateMessage | CacheFilledMessage;

/** The `type` of a {@link BusMessage}. */
export type BusMessageType = BusMessage['type'];

/** The message of one type. */
export type BusMessageOf<T extends BusMessageType> = Extract<BusMessage, { type: T }>;

/** Why an incoming payload was ignored. */
export type BusRejectReason = 'too-large' | 'not-json' | 'malformed' | 'unknown-version' | 'unknown-type' | 'invalid';

/**
 * A payload read from the channel: the message, its sender and (when the sender put one
 * in) its send time in ms since the epoch by the sender's clock; or why it was ignored.
 */
export type BusParseResult =
  { ok: true; message: BusMessage; from: string; sentAt?: number } | { ok: false; reason: BusRejectReason };

/** An HMAC as the key builder makes them (`hashId`). */
const HASHED = new RegExp(`^[A-Za-z0-9_-]{${HASHED_ID_LENGTH}}$`);
/** An entry digest (16–128 base64url characters, as `KeyBuilder.cacheEntry` takes) or an HMAC. */
const DIGEST = /^[A-Za-z0-9_-]{16,128}$/;
/** A route id (`GET /api/v1/models/:id`) or its HMAC: printable, no control characters. */
const ROUTE = /^[\x20-\x7e]{1,512}$/;
/** A cache version: a counter or a short token. */
const VERSION = /^[A-Za-z0-9_.:-]{1,128}$/;
/** A sender's instance id (see `InstanceBus.instanceId`). */
const INSTANCE_ID = /^[A-Za-z0-9_-]{8,64}$/;

const SCOPE_VALUES: Record<Exclude<CacheInvalidationScope, 'all'>, RegExp> = {
  key: DIGEST,
  route: ROUTE,
  user: HASHED,
  tag: HASHED,
  version: VERSION,
};

/**
 * Checks one message against its type's schema and returns a copy holding only the known
 * fields, or undefined when it does not conform. Used on what is published (a bug must
 * not leak a raw id to every instance) and on what is received.
 */
export function validateBusMessage(candidate: unknown): BusMessage | undefined {
  if (!isRecord(candidate)) return undefined;
  switch (candidate.type) {
    case 'ratelimit.reset':
      return typeof candidate.client === 'string' && HASHED.test(candidate.client)
        ? { type: 'ratelimit.reset', client: candidate.client }
        : undefined;
    case 'cache.invalidate': {
      const { scope, value } = candidate;
      if (scope === 'all') return value === undefined ? { type: 'cache.invalidate', scope } : undefined;
      if (typeof scope !== 'string' || !Object.hasOwn(SCOPE_VALUES, scope)) return undefined;
      const pattern = SCOPE_VALUES[scope as keyof typeof SCOPE_VALUES];
      return typeof value === 'string' && pattern.test(value)
        ? { type: 'cache.invalidate', scope: scope as keyof typeof SCOPE_VALUES, value }
        : undefined;
    }
    case 'cache.filled':
      return typeof candidate.digest === 'string' &&
        DIGEST.test(candidate.digest) &&
        typeof candidate.stored === 'boolean'
        ? { type: 'cache.filled', digest: candidate.digest, stored: candidate.stored }
        : undefined;
    default:
      return undefined;
  }
}

/** Whether `type` names a message this version of the library knows. */
export function isKnownBusMessageType(type: unknown): type is BusMessageType {
  return type === 'ratelimit.reset' || type === 'cache.invalidate' || type === 'cache.filled';
}

/**
 * The wire form of a message: JSON of the message's fields plus `v` (the protocol
 * version), `from` (the sender's instance id) and, when given, `at` (the send time in ms
 * since the epoch, by the sender's clock: receivers measure the delivery lag with it).
 * `at` is optional on the wire, so instances that predate it and those that send it read
 * each other's messages.
 */
export function encodeBusMessage(message: BusMessage, from: string, sentAt?: number): string {
  return JSON.stringify(
    sentAt === undefined
      ? { v: BUS_PROTOCOL_VERSION, from, ...message }
      : { v: BUS_PROTOCOL_VERSION, from, at: sentAt, ...message },
  );
}

/**
 * The delivery lag of a message, in ms: receive time minus send time, each by its own
 * host's clock. Clocks of different hosts may disagree (skew), so a message can appear to
 * arrive before it was sent: such a difference counts as 0, never as a negative lag.
 */
export function deliveryLagMs(sentAt: number, receivedAt: number): number {
  return Math.max(0, receivedAt - sentAt);
}

/**
 * Reads one payload from the channel. Never throws: anything oversized, unparsable, of
 * another version or type, or failing its type's schema comes back as a reason; so does a
 * send time `at` that is not a whole, non-negative number of ms (`malformed`).
 */
export function parseBusMessage(payload: Buffer | string): BusParseResult {
  const bytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (bytes > MAX_BUS_MESSAGE_BYTES) return { ok: false, reason: 'too-large' };
  let decoded: unknown;
  try {
    decoded = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch {
    return { ok: false, reason: 'not-json' };
  }
  if (!isRecord(decoded) || typeof decoded.from !== 'string' || !INSTANCE_ID.test(decoded.from)) {
    return { ok: false, reason: 'malformed' };
  }
  if (decoded.v !== BUS_PROTOCOL_VERSION) return { ok: false, reason: 'unknown-version' };
  // Optional (older senders leave it out); when present, a time in ms since the epoch.
  const sentAt = decoded.at;
  if (sentAt !== undefined && !(Number.isSafeInteger(sentAt) && (sentAt as number) >= 0)) {
    return { ok: false, reason: 'malformed' };
  }
  if (!isKnownBusMessageType(decoded.type)) return { ok: false, reason: 'unknown-type' };
  const message = validateBusMessage(decoded);
  if (!message) return { ok: false, reason: 'invalid' };
  return sentAt === undefined
    ? { ok: true, message, from: decoded.from }
    : { ok: true, message, from: decoded.from, sentAt: sentAt as number };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
