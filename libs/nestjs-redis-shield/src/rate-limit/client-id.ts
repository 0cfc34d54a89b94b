import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { messages } from '../errors/messages.js';

const MAPPED_DOTTED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;
const MAPPED_HEX = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i;

/**
 * Normalises a client address for keying: IPv4-mapped IPv6 (`::ffff:1.2.3.4`) becomes
 * `1.2.3.4`; IPv6 becomes its /64 network (`2001:db8:1:2::/64`), because one customer
 * line usually owns a whole /64 and could otherwise rotate addresses for fresh buckets.
 */
export function normalizeIp(address: string): string {
  const ip = address.trim().replace(/%.*$/, '');
  const dotted = MAPPED_DOTTED.exec(ip);
  if (dotted && isIPv4(dotted[1])) return dotted[1];
  const hex = MAPPED_HEX.exec(ip);
  if (hex) {
    const high = parseInt(hex[1], 16);
    const low = parseInt(hex[2], 16);
    return [high >> 8, high & 255, low >> 8, low & 255].join('.');
  }
  if (!isIPv6(ip)) return ip;
  const groups = expandIpv6(ip)
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ''));
  return `${groups.join(':')}::/64`;
}

/** The client id of an anonymous request: `ip:<normalised address>`. */
export function ipClientId(address: string): string {
  return `ip:${normalizeIp(address)}`;
}

/** The client id of an authenticated request: `user:<id>`. */
export function userClientId(id: string): string {
  return `user:${id}`;
}

/** The user id of `request.user`: its `id`, `sub` or `userId` (string or number). */
export function defaultUserId(user: unknown): string | undefined {
  if (typeof user !== 'object' || user === null) return undefined;
  const { id, sub, userId } = user as Record<string, unknown>;
  for (const candidate of [id, sub, userId]) {
    if (typeof candidate === 'string' && candidate !== '') return candidate;
    if (typeof candidate === 'number' && Number.isFinite(candidate)) return String(candidate);
  }
  return undefined;
}

/** Addresses and CIDR subnets (IPv4 and IPv6) exempt from rate limiting. */
export class IpAllowlist {
  private readonly list = new BlockList();
  /** How many entries were given. */
  readonly size: number;

  /**
   * Parses `entries` such as `203.0.113.7`, `10.0.0.0/8` or `2001:db8::/32`.
   *
   * @throws Error naming the first entry that is neither an address nor a CIDR subnet.
   */
  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const [address, bits, ...rest] = entry.trim().split('/');
      const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
      const prefix = bits === undefined ? undefined : Number(bits);
      const maxBits = family === 'ipv4' ? 32 : 128;
      const validPrefix = prefix === undefined || (/^\d+$/.test(bits!) && prefix <= maxBits);
      if (!family || rest.length > 0 || !validPrefix) {
        throw new Error(messages.invalidOption('allowlist', entry, 'an IP address or CIDR subnet'));
      }
      if (prefix === undefined) this.list.addAddress(address, family);
      else this.list.addSubnet(address, prefix, family);
    }
    this.size = entries.length;
  }

  /** Whether the (raw, un-normalised) address is allowlisted. */
  has(address: string | undefined): boolean {
    if (!address || this.size === 0) return false;
    const ip = address.trim().replace(/%.*$/, '');
    const mapped = MAPPED_DOTTED.exec(ip)?.[1];
    if (mapped && this.list.check(mapped, 'ipv4')) return true;
    if (isIPv4(ip)) return this.list.check(ip, 'ipv4');
    return isIPv6(ip) && this.list.check(ip, 'ipv6');
  }
}

/** Expands an IPv6 address to eight 4-digit groups (embedded IPv4 tails included). */
function expandIpv6(ip: string): string[] {
  let text = ip.toLowerCase();
  const v4 = /(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[1].split('.').map(Number);
    text = text.slice(0, -v4[1].length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  const missing = 8 - left.length - right.length;
  return [...left, ...Array(tail === undefined ? 0 : missing).fill('0'), ...right].map((group) =>
    group.padStart(4, '0'),
  );
}
