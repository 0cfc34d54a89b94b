import { defaultUserId, ipClientId, IpAllowlist, normalizeIp } from './client-id.js';

describe('client identity', () => {
  it.each([
    ['1.2.3.4', '1.2.3.4'],
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['::FFFF:1.2.3.4', '1.2.3.4'],
    ['::ffff:0102:0304', '1.2.3.4'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:ffff::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
  ])('normalises %s to %s', (input, expected) => {
    expect(normalizeIp(input)).toBe(expected);
  });

  it('keys two addresses of one /64 alike and different /64s apart', () => {
    expect(ipClientId('2001:db8:1:2::a')).toBe(ipClientId('2001:db8:1:2:ffff:ffff:ffff:ffff'));
    expect(ipClientId('2001:db8:1:3::a')).not.toBe(ipClientId('2001:db8:1:2::a'));
    expect(ipClientId('::ffff:10.0.0.1')).toBe(ipClientId('10.0.0.1'));
  });

  it('reads the user id from id, sub or userId', () => {
    expect(defaultUserId({ id: 'u1' })).toBe('u1');
    expect(defaultUserId({ sub: 'u2' })).toBe('u2');
    expect(defaultUserId({ userId: 42 })).toBe('42');
    expect(defaultUserId({ id: '' })).toBeUndefined();
    expect(defaultUserId(undefined)).toBeUndefined();
    expect(defaultUserId('u3')).toBeUndefined();
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

  it.each(['10.0.0.0/33', 'not-an-ip', '::1/129', '1.2.3.4/8/1'])('refuses the allowlist entry %s', (entry) => {
    expect(() => new IpAllowlist([entry])).toThrow(/allowlist=.*expected an IP address or CIDR subnet/);
  });
});
