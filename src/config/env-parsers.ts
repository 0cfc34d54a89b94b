import { isIP } from 'node:net';

/**
 * Thrown by a parser when a value is bad; `expected` completes the sentence
 * `Invalid config: NAME="value": expected ...`.
 */
export class ExpectationError extends Error {
  constructor(readonly expected: string) {
    super(`expected ${expected}`);
  }
}

/** A host and port pair from a `host:port,...` list. */
export interface HostPort {
  host: string;
  port: number;
}

/** Express `trust proxy` values: boolean, hop count, or addresses/subnets/named ranges. */
export type TrustProxy = boolean | number | string[];

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

/** Parses a boolean spelled out explicitly: `"false"` is false, anything unknown is an error. */
export function parseBoolean(raw: string): boolean {
  const word = raw.trim().toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  throw new ExpectationError('a boolean (true/false, 1/0, yes/no, on/off)');
}

/** Parses a base-10 integer within `[min, max]`; rejects `1.5`, `1e3`, `0x10` and blanks. */
export function parseInteger(raw: string, min: number, max: number): number {
  const expectation = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer between ${min} and ${max}`;
  if (!/^[+-]?\d+$/.test(raw.trim())) throw new ExpectationError(expectation);
  const value = Number(raw.trim());
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new ExpectationError(expectation);
  return value;
}

/** Parses one of a fixed set of words (case-sensitive, as documented). */
export function parseEnum<T extends string>(raw: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(raw)) return raw as T;
  throw new ExpectationError(`one of ${allowed.join(', ')}`);
}

/** Parses a `redis://` or `rediss://` URL; the database, when given, is a non-negative integer. */
export function parseRedisUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ExpectationError('a redis:// or rediss:// URL');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new ExpectationError('a redis:// or rediss:// URL');
  }
  if (!url.hostname) throw new ExpectationError('a redis:// or rediss:// URL with a host');
  if (redisDatabase(url) === undefined) throw new ExpectationError('a database number (e.g. redis://host:6379/0)');
  return url;
}

/** The database index named in a Redis URL path (`/2` → 2; none → 0); `undefined` when malformed. */
export function redisDatabase(url: URL): number | undefined {
  const path = url.pathname.replace(/^\//, '');
  if (path === '') return 0;
  return /^\d+$/.test(path) ? Number(path) : undefined;
}

/** Parses `host:port,host:port` (IPv6 hosts in brackets: `[::1]:26379`). */
export function parseHostPortList(raw: string): HostPort[] {
  const expectation = 'a comma-separated list of host:port';
  const items = raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  if (items.length === 0) throw new ExpectationError(expectation);
  return items.map((item) => {
    const match = /^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):(\d{1,5})$/.exec(item);
    const port = match ? Number(match[2]) : 0;
    if (!match || port < 1 || port > 65535) throw new ExpectationError(expectation);
    return { host: match[1].replace(/^\[|\]$/g, ''), port };
  });
}

/** Express's named trust-proxy ranges. */
const NAMED_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * Parses Express `trust proxy` values: `true`/`false`, a hop count, or a
 * comma-separated list of addresses, CIDR subnets and named ranges.
 */
export function parseTrustProxy(raw: string): TrustProxy {
  const word = raw.trim().toLowerCase();
  if (word === 'true') return true;
  if (word === 'false') return false;
  if (/^\d+$/.test(word)) return parseInteger(word, 0, 100);
  const items = raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  const valid = items.length > 0 && items.every((item) => NAMED_RANGES.has(item) || isAddressOrSubnet(item));
  if (!valid) {
    throw new ExpectationError(
      'false, true, a hop count, or comma-separated addresses/subnets (e.g. 10.0.0.0/8,loopback)',
    );
  }
  return items;
}

function isAddressOrSubnet(item: string): boolean {
  const [address, bits, ...rest] = item.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  if (!/^\d+$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}
