import { createHash } from 'node:crypto';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import ipaddr from 'ipaddr.js';
import { shieldError } from '../../core/errors.js';
import { checkIntegerInRange } from '../../core/validators.js';

/** Options of {@link normalizeIp} and {@link ipClientId}; `RateLimitModuleOptions` fits. */
export interface ClientAddressOptions {
  /** Prefix length (bits, 1–128) by which IPv6 clients share a bucket. Default 64. */
  ipv6Subnet?: number;
}

/** The `ipv6Subnet` used when none is given. */
const DEFAULT_IPV6_SUBNET = 64;

/**
 * Longer inputs are not addresses: the longest IPv6 text is 45 characters, about 70 with
 * brackets, an interface name and a port; nothing larger (a forged `X-Forwarded-For`)
 * reaches a regular expression.
 */
const MAX_ADDRESS_LENGTH = 100;

/**
 * IPv6 ranges whose addresses carry one IPv4 address, and how to read it from the 16
 * bytes (`undefined`: this one carries none). A client seen through one of them is that
 * IPv4 client: keying it by an IPv6 /64 would give it a second bucket, or (NAT64, Teredo)
 * put every client of the translator in one.
 */
const EMBEDDED_IPV4: readonly { range: [ipaddr.IPv6, number]; ipv4: (bytes: number[]) => number[] | undefined }[] = [
  // IPv4-mapped ::ffff:a.b.c.d (RFC 4291): what dual-stack sockets report for IPv4 peers.
  { range: ipaddr.IPv6.parseCIDR('::ffff:0:0/96'), ipv4: (bytes) => bytes.slice(12) },
  // IPv4-compatible ::a.b.c.d (RFC 4291, deprecated), except `::` and `::1`.
  {
    range: ipaddr.IPv6.parseCIDR('::/96'),
    ipv4: (bytes) => ((bytes[12] | bytes[13] | bytes[14]) === 0 && bytes[15] <= 1 ? undefined : bytes.slice(12)),
  },
  // IPv4-translated ::ffff:0:a.b.c.d (RFC 2765, SIIT).
  { range: ipaddr.IPv6.parseCIDR('::ffff:0:0:0/96'), ipv4: (bytes) => bytes.slice(12) },
  // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052): an IPv4 client translated for an IPv6
  // server. The local-use 64:ff9b:1::/48 (RFC 8215) embeds at operator-chosen lengths: plain IPv6.
  { range: ipaddr.IPv6.parseCIDR('64:ff9b::/96'), ipv4: (bytes) => bytes.slice(12) },
  // 6to4 2002:AABB:CCDD::/48 (RFC 3056): the site's IPv4 is bits 16–47.
  { range: ipaddr.IPv6.parseCIDR('2002::/16'), ipv4: (bytes) => bytes.slice(2, 6) },
  // Teredo 2001:0::/32 (RFC 4380): the client's public IPv4 is the last 32 bits, inverted.
  { range: ipaddr.IPv6.parseCIDR('2001::/32'), ipv4: (bytes) => bytes.slice(12).map((byte) => byte ^ 0xff) },
];

/** The network masks by prefix length, as eight 16-bit groups, made on first use. */
const MASKS: number[][] = [];

/** A client address as the library keys it. */
type ClientAddress =
  /** An IPv4 client, given as such or embedded in `ipv6Text`; `ipv4` is canonical dotted decimal. */
  | { kind: 'ipv4'; ipv4: string; ipv6Text: string | undefined }
  /** An IPv6 client; `ipv6Text` is the address as given, without zone id (for the allowlist). */
  | { kind: 'ipv6'; ipv6: ipaddr.IPv6; ipv6Text: string };

/**
 * The prefix length of `options.ipv6Subnet` (default 64).
 *
 * @throws Error through `messages.invalidOption` unless it is an integer from 1 to 128.
 */
export function ipv6SubnetOf(options: ClientAddressOptions | undefined): number {
  const bits = options?.ipv6Subnet ?? DEFAULT_IPV6_SUBNET;
  // The wording is given so the check allocates nothing: it runs on every request keyed by IP.
  return checkIntegerInRange('ipv6Subnet', bits, 1, 128, 'an integer from 1 to 128');
}

/**
 * Normalises a client address for keying, or returns `undefined` when it is not an IP
 * address (then it must not be keyed by its text: every forged value would get a fresh
 * bucket).
 *
 * - What proxies add is stripped: surrounding whitespace, brackets, a port on a bracketed
 *   IPv6 (`[2001:db8::1]:443`) or on an IPv4 (`203.0.113.7:51234`), an IPv6 zone id (`%eth0`).
 * - IPv4 must be four-part dotted decimal (`203.0.113.7`); forms such as `010.1.1.1`,
 *   `1.2.3` or `0x7f.0.0.1`, which parsers read in different ways, are not addresses.
 * - An IPv6 carrying an IPv4 (IPv4-mapped `::ffff:1.2.3.4` in dotted or hex form,
 *   IPv4-compatible `::1.2.3.4`, IPv4-translated `::ffff:0:1.2.3.4`, NAT64 `64:ff9b::/96`,
 *   6to4 `2002::/16`, Teredo `2001::/32`) becomes that IPv4: the client shares its IPv4's bucket.
 * - Any other IPv6 (`::` and `::1` included) becomes its network of `ipv6Subnet` bits,
 *   compressed and lower-case: one customer line usually owns a whole /64 (or /56) and
 *   could otherwise rotate addresses for fresh buckets.
 * - Inputs longer than 100 characters are not addresses and are not parsed.
 *
 * @example
 * normalizeIp('[::ffff:1.2.3.4]:80'); // '1.2.3.4'
 * normalizeIp('2001:DB8:1:2::7%eth0'); // '2001:db8:1:2::/64'
 * normalizeIp('2001:db8:1:2::7', { ipv6Subnet: 56 }); // '2001:db8:1::/56'
 * normalizeIp('unknown'); // undefined
 * @throws Error when `options.ipv6Subnet` is invalid (not an integer from 1 to 128).
 */
export function normalizeIp(address: string | undefined, options?: ClientAddressOptions): string | undefined {
  const bits = ipv6SubnetOf(options);
  const parsed = parseClientAddress(address);
  if (!parsed) return undefined;
  if (parsed.kind === 'ipv4') return parsed.ipv4;
  const mask = (MASKS[bits] ??= ipaddr.IPv6.subnetMaskFromPrefixLength(bits).parts);
  return `${new ipaddr.IPv6(parsed.ipv6.parts.map((part, i) => part & mask[i])).toString()}/${bits}`;
}

/**
 * The client id of an anonymous request: `ip:<normalised address>` (see {@link normalizeIp}),
 * or `ip:unknown` when `address` is not an IP address.
 */
export function ipClientId(address: string | undefined, options?: ClientAddressOptions): string {
  return `ip:${normalizeIp(address, options) ?? 'unknown'}`;
}

/**
 * The longest id (user id, or a `clientId` option's result) kept as given, in UTF-16 code
 * units. Client ids are memoised (id → HMAC), keyed locally (block cache, fallback store) and
 * carried in events: a megabyte-long id must not be kept as is in any of them.
 */
export const MAX_CLIENT_ID_LENGTH = 256;

/** What {@link boundedClientId} puts before the digest of an id it replaced. */
const DIGEST_PREFIX = 'sha256:';

/**
 * An id as the library keeps it: as given when at most `MAX_CLIENT_ID_LENGTH`
 * characters, else `sha256:<base64url SHA-256 of its UTF-8>` (50 characters), which keeps
 * distinct ids distinct. An id that itself starts with `sha256:` is digested too, so no id
 * can pose as the digest of another.
 *
 * @example
 * boundedClientId('42'); // '42'
 * boundedClientId('x'.repeat(300)); // 'sha256:…' (50 characters)
 */
export function boundedClientId(id: string): string {
  // A JavaScript hook may hand back a number despite the type: keyed by its text, as before.
  if (typeof id !== 'string') id = String(id);
  if (id.length <= MAX_CLIENT_ID_LENGTH && !id.startsWith(DIGEST_PREFIX)) return id;
  return `${DIGEST_PREFIX}${createHash('sha256').update(id, 'utf8').digest('base64url')}`;
}

/**
 * The client id of an authenticated request: `user:<id>`, the id bounded by
 * {@link boundedClientId} (`user:sha256:…` beyond `MAX_CLIENT_ID_LENGTH` characters).
 */
export function userClientId(id: string): string {
  return `user:${boundedClientId(id)}`;
}

export { defaultUserId } from '../../core/user-id.js';

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
        throw shieldError('invalidOption', 'allowlist', entry, 'an IP address or CIDR subnet');
      }
      if (prefix === undefined) this.list.addAddress(address, family);
      else this.list.addSubnet(address, prefix, family);
    }
    this.size = entries.length;
  }

  /**
   * Whether the (raw, un-normalised) address is allowlisted, read as {@link normalizeIp}
   * reads it: an IPv6 carrying an IPv4 matches the IPv4 entries (and the IPv6 ones);
   * brackets, ports and zone ids are ignored. Not an address: never allowlisted.
   */
  has(address: string | undefined): boolean {
    if (this.size === 0) return false;
    const parsed = parseClientAddress(address);
    if (!parsed) return false;
    if (parsed.kind === 'ipv4' && this.list.check(parsed.ipv4, 'ipv4')) return true;
    return parsed.ipv6Text !== undefined && this.list.check(parsed.ipv6Text, 'ipv6');
  }
}

/** Reads a client address by the rules of {@link normalizeIp}; `undefined`: not an address. */
function parseClientAddress(input: string | undefined): ClientAddress | undefined {
  if (input === undefined || input.length > MAX_ADDRESS_LENGTH) return undefined;
  let text = input.trim();
  const bracketed = /^\[([^\]]*)\](?::(\d{1,5}))?$/.exec(text);
  if (bracketed) {
    // Brackets only ever enclose an IPv6 (RFC 3986).
    if (!bracketed[1].includes(':') || !validPort(bracketed[2])) return undefined;
    text = bracketed[1];
  } else if (text.indexOf(':') !== -1 && text.indexOf(':') === text.lastIndexOf(':')) {
    // One colon: an IPv4 with a port (every IPv6 has at least two).
    const [host, port] = text.split(':');
    if (!validPort(port)) return undefined;
    text = host;
  }
  // node:net's checks are strict (four-part decimal, no leading zeros, in IPv6 tails too)
  // and take tens of nanoseconds; ipaddr.js only ever sees valid IPv6 (it throws on the
  // rest, which costs microseconds per forged header).
  if (isIPv4(text)) return { kind: 'ipv4', ipv4: text, ipv6Text: undefined };
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  if (!isIPv6(text)) return undefined;
  const ipv6Text = text;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    // The form dual-stack sockets report for every IPv4 peer: no need to parse further.
    if (lastColon === 6 && text.slice(0, 7).toLowerCase() === '::ffff:')
      return { kind: 'ipv4', ipv4: tail, ipv6Text: text };
    // ipaddr.js would rewrite `::a.b.c.d` as `::ffff:a.b.c.d` (then `::0.0.0.1` would
    // not be `::1`): the tail goes in as two hex groups.
    const [a, b, c, d] = tail.split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  let ipv6: ipaddr.IPv6;
  try {
    ipv6 = ipaddr.IPv6.parse(text);
  } catch {
    // Not seen in fuzzing against node:net; a parser disagreement must not fail the request.
    return undefined;
  }
  const bytes = ipv6.toByteArray();
  for (const { range, ipv4 } of EMBEDDED_IPV4) {
    const octets = ipv6.match(range) ? ipv4(bytes) : undefined;
    if (octets) return { kind: 'ipv4', ipv4: octets.join('.'), ipv6Text };
  }
  return { kind: 'ipv6', ipv6, ipv6Text };
}

/** A port as proxies append it: absent, or a decimal number up to 65535. */
function validPort(port: string | undefined): boolean {
  return port === undefined || (/^\d{1,5}$/.test(port) && Number(port) <= 65535);
}
