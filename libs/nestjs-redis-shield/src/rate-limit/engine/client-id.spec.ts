import { createHash } from 'node:crypto';
import {
  boundedClientId,
  defaultUserId,
  ipClientId,
  IpAllowlist,
  MAX_CLIENT_ID_LENGTH,
  normalizeIp,
  userClientId,
} from './client-id.js';
import { buildRegistry } from './rate-limit.options.js';

describe('client identity', () => {
  // [input, client id with the default /64]; `ip:unknown` means "not an address".
  it.each([
    // IPv4: four-part dotted decimal only, ports and whitespace stripped.
    ['1.2.3.4', 'ip:1.2.3.4'],
    [' 203.0.113.7\t', 'ip:203.0.113.7'],
    ['203.0.113.7:51234', 'ip:203.0.113.7'],
    ['1.2.3.4:5678', 'ip:1.2.3.4'],
    ['0.0.0.0', 'ip:0.0.0.0'],
    ['010.1.1.1', 'ip:unknown'],
    ['1.2.3.04', 'ip:unknown'],
    ['1.2.3', 'ip:unknown'],
    ['16909060', 'ip:unknown'],
    ['0x7f.0.0.1', 'ip:unknown'],
    ['256.1.1.1', 'ip:unknown'],
    ['1.2.3.4:', 'ip:unknown'],
    ['1.2.3.4:65536', 'ip:unknown'],
    ['1.2.3.4:http', 'ip:unknown'],
    ['[1.2.3.4]:80', 'ip:unknown'],
    ['1.2.3.4%eth0', 'ip:unknown'],
    // IPv4-mapped, dotted and hex, any case, bracketed, with port or zone.
    ['::ffff:1.2.3.4', 'ip:1.2.3.4'],
    ['::FFFF:1.2.3.4', 'ip:1.2.3.4'],
    ['::ffff:0102:0304', 'ip:1.2.3.4'],
    ['0:0:0:0:0:ffff:102:304', 'ip:1.2.3.4'],
    ['[::ffff:1.2.3.4]:80', 'ip:1.2.3.4'],
    ['::ffff:1.2.3.4%eth0', 'ip:1.2.3.4'],
    ['::ffff:010.1.1.1', 'ip:unknown'],
    ['::ffff:1.2.3', 'ip:unknown'],
    // IPv4-compatible (deprecated), but `::` and `::1` in any spelling stay IPv6.
    ['::1.2.3.4', 'ip:1.2.3.4'],
    ['::102:304', 'ip:1.2.3.4'],
    ['::0.0.0.2', 'ip:0.0.0.2'],
    ['::', 'ip:::/64'],
    ['::1', 'ip:::/64'],
    ['::0.0.0.1', 'ip:::/64'],
    ['0:0:0:0:0:0:0:0', 'ip:::/64'],
    // IPv4-translated (SIIT).
    ['::ffff:0:1.2.3.4', 'ip:1.2.3.4'],
    ['::ffff:0:102:304', 'ip:1.2.3.4'],
    // NAT64 well-known prefix: each IPv4 client on its own; the local-use prefix is plain IPv6.
    ['64:ff9b::1.2.3.4', 'ip:1.2.3.4'],
    ['64:FF9B::506:708', 'ip:5.6.7.8'],
    ['64:ff9b:1::1.2.3.4', 'ip:64:ff9b:1::/64'],
    // 6to4: bits 16-47.
    ['2002:c000:0204::1', 'ip:192.0.2.4'],
    ['2002:cb00:7107:1:2:3:4:5', 'ip:203.0.113.7'],
    // Teredo: the last 32 bits, inverted (RFC 4380's example client 192.0.2.45).
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'ip:192.0.2.45'],
    ['2001::ce49:7601:e866:efff:62c3:fffe', 'ip:157.60.0.1'],
    // Other IPv6: the /64, compressed and lower-case; zone ids, brackets and ports stripped.
    ['2001:db8:1:2:3:4:5:6', 'ip:2001:db8:1:2::/64'],
    ['2001:0DB8:0001:0002:FFFF::1', 'ip:2001:db8:1:2::/64'],
    ['2001:db8::1', 'ip:2001:db8::/64'],
    ['fe80::1%eth0', 'ip:fe80::/64'],
    ['fe80::1%en0.100', 'ip:fe80::/64'],
    ['[2001:db8:1:2::1]', 'ip:2001:db8:1:2::/64'],
    ['[2001:db8:1:2::1]:443', 'ip:2001:db8:1:2::/64'],
    ['[fe80::1%25eth0]:443', 'ip:fe80::/64'],
    // Unbracketed, the last group is part of the address, never a port.
    ['2001:db8:1:2::7:443', 'ip:2001:db8:1:2::/64'],
    ['[2001:db8::1]:65536', 'ip:unknown'],
    ['[2001:db8::1', 'ip:unknown'],
    ['2001:db8::1::2', 'ip:unknown'],
    ['2001:db8::g', 'ip:unknown'],
    ['2001:db8:0:0:0:0:0:0:1', 'ip:unknown'],
    ['12345::', 'ip:unknown'],
    // Not addresses at all.
    ['', 'ip:unknown'],
    ['   ', 'ip:unknown'],
    ['unknown', 'ip:unknown'],
    ['203.0.113.7, 198.51.100.1', 'ip:unknown'],
    ['a'.repeat(101), 'ip:unknown'],
    // Bounded before trimming: even a valid address padded beyond 100 characters is refused.
    [`1.2.3.4${' '.repeat(94)}`, 'ip:unknown'],
    [`${'0:'.repeat(50)}1`, 'ip:unknown'],
  ])('keys %j as %s', (input, expected) => {
    expect(ipClientId(input)).toBe(expected);
    expect(normalizeIp(input)).toBe(expected === 'ip:unknown' ? undefined : expected.slice(3));
  });

  it('keys an absent address as ip:unknown', () => {
    expect(normalizeIp(undefined)).toBeUndefined();
    expect(ipClientId(undefined)).toBe('ip:unknown');
  });

  it('gives every embedded or decorated form of an IPv4 the IPv4 bucket, and two NAT64 clients two', () => {
    const forms = [
      '1.2.3.4',
      '::ffff:1.2.3.4',
      '::1.2.3.4',
      '::ffff:0:1.2.3.4',
      '64:ff9b::1.2.3.4',
      '[::ffff:1.2.3.4]:80',
      '1.2.3.4:5678',
      '2002:102:304::1',
      '2001:0:4136:e378:8000:63bf:fefd:fcfb',
    ];
    for (const form of forms) expect([form, ipClientId(form)]).toEqual([form, 'ip:1.2.3.4']);
    expect(ipClientId('64:ff9b::1.2.3.4')).not.toBe(ipClientId('64:ff9b::5.6.7.8'));
    expect(ipClientId('2001:0:4136:e378:8000:63bf:3fff:fdd2')).not.toBe(
      ipClientId('2001:0:4136:e378:8000:63bf:3fff:fdd3'),
    );
  });

  it('keys IPv6 by the configured subnet', () => {
    expect(ipClientId('2001:db8:1:2::a')).toBe(ipClientId('2001:db8:1:2:ffff:ffff:ffff:ffff'));
    expect(ipClientId('2001:db8:1:3::a')).not.toBe(ipClientId('2001:db8:1:2::a'));

    const wide = { ipv6Subnet: 56 };
    expect(ipClientId('2001:db8:1:2::7', wide)).toBe('ip:2001:db8:1::/56');
    expect(ipClientId('2001:db8:1:ff::7', wide)).toBe('ip:2001:db8:1::/56');
    expect(ipClientId('2001:db8:1:100::7', wide)).toBe('ip:2001:db8:1:100::/56');

    const single = { ipv6Subnet: 128 };
    expect(ipClientId('2001:DB8:1:2::7', single)).toBe('ip:2001:db8:1:2::7/128');
    expect(ipClientId('2001:db8:1:2::8', single)).toBe('ip:2001:db8:1:2::8/128');
    expect(ipClientId('[fe80::1%eth0]:443', single)).toBe('ip:fe80::1/128');
    expect(ipClientId('::1', single)).toBe('ip:::1/128');
    expect(ipClientId('::', single)).toBe('ip:::/128');

    expect(ipClientId('2001:db8:1:2::7', { ipv6Subnet: 1 })).toBe('ip:::/1');
    expect(ipClientId('ff02::1', { ipv6Subnet: 1 })).toBe('ip:8000::/1');
    expect(ipClientId('2001:db8:abcd:12ff::1', { ipv6Subnet: 52 })).toBe('ip:2001:db8:abcd:1000::/52');

    // The subnet never applies to an IPv4 client, embedded or not.
    expect(ipClientId('::ffff:1.2.3.4', single)).toBe('ip:1.2.3.4');
    expect(ipClientId('64:ff9b::1.2.3.4', wide)).toBe('ip:1.2.3.4');
  });

  it.each([0, 129, 64.5, -64, Number.NaN, '64'])('refuses ipv6Subnet %p at start-up and when keying', (bits) => {
    const message = /invalid option ipv6Subnet=.*: expected an integer from 1 to 128/;
    expect(() => buildRegistry({ ipv6Subnet: bits as number })).toThrow(message);
    expect(() => normalizeIp('1.2.3.4', { ipv6Subnet: bits as number })).toThrow(message);
  });

  it('accepts ipv6Subnet from 1 to 128', () => {
    for (const bits of [1, 48, 56, 64, 128]) expect(() => buildRegistry({ ipv6Subnet: bits })).not.toThrow();
  });

  it('reads the user id from id, sub or userId', () => {
    expect(defaultUserId({ id: 'u1' })).toBe('u1');
    expect(defaultUserId({ sub: 'u2' })).toBe('u2');
    expect(defaultUserId({ userId: 42 })).toBe('42');
    expect(defaultUserId({ id: '' })).toBeUndefined();
    expect(defaultUserId(undefined)).toBeUndefined();
    expect(defaultUserId('u3')).toBeUndefined();
  });

  describe('bounded ids', () => {
    const digest = (id: string) => `sha256:${createHash('sha256').update(id, 'utf8').digest('base64url')}`;

    it('keeps ids of up to 256 characters as given', () => {
      expect(MAX_CLIENT_ID_LENGTH).toBe(256);
      for (const id of ['42', 'tenant:acme', 'x'.repeat(256), 'é'.repeat(256), 'sha256', 'a sha256:b']) {
        expect(boundedClientId(id)).toBe(id);
      }
      expect(userClientId('42')).toBe('user:42');
      expect(userClientId('u'.repeat(256))).toBe(`user:${'u'.repeat(256)}`);
    });

    it('replaces a longer id by sha256:<base64url digest>, 50 characters, distinct per id', () => {
      const long = 'x'.repeat(257);
      expect(boundedClientId(long)).toBe(digest(long));
      expect(boundedClientId(long)).toMatch(/^sha256:[A-Za-z0-9_-]{43}$/);
      // Two ids that differ only past the cap stay apart.
      const a = `${'y'.repeat(300)}a`;
      const b = `${'y'.repeat(300)}b`;
      expect(boundedClientId(a)).not.toBe(boundedClientId(b));
      // Code units count, and the digest is of the UTF-8 bytes.
      expect(boundedClientId('😀'.repeat(129))).toBe(digest('😀'.repeat(129)));
    });

    it('bounds a user id of megabytes to user:sha256:… before anything keeps it', () => {
      const huge = 'u'.repeat(4 * 1024 * 1024);
      const id = userClientId(huge);
      expect(id).toBe(`user:${digest(huge)}`);
      expect(id.length).toBe('user:'.length + 50);
      expect(userClientId(huge)).toBe(id);
    });

    it('digests a short id that looks like a digest, so none can pose as another id', () => {
      const long = 'z'.repeat(1000);
      const posing = boundedClientId(long);
      expect(boundedClientId(posing)).toBe(digest(posing));
      expect(boundedClientId(posing)).not.toBe(posing);
      expect(userClientId(posing)).not.toBe(userClientId(long));
    });

    it('keys a number handed back by a JavaScript hook by its text', () => {
      expect(boundedClientId(42 as unknown as string)).toBe('42');
    });
  });

  it('matches allowlisted addresses and subnets, IPv4-mapped included', () => {
    const list = new IpAllowlist(['10.0.0.0/8', '192.0.2.7', '2001:db8::/32']);
    expect(list.has('10.1.2.3')).toBe(true);
    expect(list.has('::ffff:10.1.2.3')).toBe(true);
    expect(list.has('192.0.2.7')).toBe(true);
    expect(list.has('192.0.2.8')).toBe(false);
    expect(list.has('2001:db8:ffff::1')).toBe(true);
    expect(list.has('2001:db9::1')).toBe(false);
    expect(list.has(undefined)).toBe(false);
  });

  it('reads allowlist candidates as client ids read them: embedded IPv4, brackets, ports, zones', () => {
    const list = new IpAllowlist(['10.0.0.0/8', '2001:db8::/32', '64:ff9b::/96']);
    for (const form of [
      '10.1.2.3:5555',
      '[::ffff:10.1.2.3]:443',
      '::10.1.2.3',
      '::ffff:0:a01:203',
      '2002:a01:203::1',
      '2001:0:4136:e378:8000:63bf:f5fe:fdfc',
      '[2001:db8::1]:80',
      '2001:DB8::1%eth0',
      // Matches the IPv6 entry, and its embedded 198.51.100.1 matches none.
      '64:ff9b::198.51.100.1',
    ]) {
      expect([form, list.has(form)]).toEqual([form, true]);
    }
    for (const form of ['010.1.2.3', '10.1.2', '[10.1.2.3]', 'garbage', '', `10.1.2.3${' '.repeat(100)}`]) {
      expect([form, list.has(form)]).toEqual([form, false]);
    }
  });

  it.each(['10.0.0.0/33', 'not-an-ip', '::1/129', '1.2.3.4/8/1'])('refuses the allowlist entry %s', (entry) => {
    expect(() => new IpAllowlist([entry])).toThrow(/allowlist=.*expected an IP address or CIDR subnet/);
  });
});
