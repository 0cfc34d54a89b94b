import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { proxyTrustOf } from './proxy-trust.js';

/** The verdict on Express with `trust proxy` set to `value`. */
function express(value: unknown) {
  const adapter = new ExpressAdapter();
  adapter.set('trust proxy', value);
  return proxyTrustOf(adapter);
}

/** The verdict on Fastify with `trustProxy: value`. */
async function fastify(value: unknown) {
  const adapter = new FastifyAdapter({ trustProxy: value as boolean });
  try {
    return proxyTrustOf(adapter);
  } finally {
    await adapter.close();
  }
}

describe('proxyTrustOf', () => {
  // [setting, trusts every peer, trusts a Unix socket peer]
  it.each<[string, unknown, boolean, boolean]>([
    ['true', true, true, true],
    ['false', false, false, false],
    ['loopback', 'loopback', false, false],
    ['an address list', ['10.0.0.0/8', '::1'], false, false],
    ['every IPv4 address', ['0.0.0.0/1', '128.0.0.0/1'], true, false],
    ['hop count 1', 1, false, true],
    ['hop count 31', 31, false, true],
    ['hop count 32 (as good as every hop)', 32, true, true],
    ['a function trusting everything', () => true, true, true],
    ['a function of the hop', (_address: string, hop: number) => hop < 1, false, true],
  ])('Express trust proxy %s', (_name, value, everyPeer, unixPeer) => {
    expect(express(value)).toEqual({
      adapter: 'express',
      setting: 'trust proxy',
      trustsEveryPeer: everyPeer,
      trustsUnixPeer: unixPeer,
    });
  });

  it.each<[string, unknown, boolean, boolean]>([
    ['true', true, true, true],
    ['false', false, false, false],
    ['loopback', 'loopback', false, false],
    ['an address list', ['10.0.0.0/8', '::1'], false, false],
    ['a function trusting everything', () => true, true, true],
    ['a function of the hop', (_address: string, hop: number) => hop < 1, false, true],
  ])('Fastify trustProxy %s', async (_name, value, everyPeer, unixPeer) => {
    expect(await fastify(value)).toEqual({
      adapter: 'fastify',
      setting: 'trustProxy',
      trustsEveryPeer: everyPeer,
      trustsUnixPeer: unixPeer,
    });
  });

  it('gives no verdict on an adapter it does not know', () => {
    expect(proxyTrustOf({ getType: () => 'other', getInstance: () => ({}) })).toBeUndefined();
    expect(proxyTrustOf({ getType: () => 'fastify', getInstance: () => ({}) })).toBeUndefined();
    expect(proxyTrustOf({ getType: () => 'express', getInstance: () => undefined })).toBeUndefined();
  });
});
