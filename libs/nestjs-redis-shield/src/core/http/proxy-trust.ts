// How an HTTP adapter trusts proxies, read once at start-up so the rate-limit guard can
// warn about deployments where client addresses mean nothing. The only place that looks
// into adapter instances (request internals stay in http-facade.ts).

/** What the library needs to know of an adapter's proxy trust (Express `trust proxy`, Fastify `trustProxy`). */
export interface ProxyTrust {
  /** The adapter. */
  readonly adapter: 'express' | 'fastify';
  /** The setting that decides it, as its users know it: `trust proxy` (Express) or `trustProxy` (Fastify). */
  readonly setting: string;
  /**
   * `X-Forwarded-For` is believed from any peer, however long the chain (`true`, or a
   * function or list that trusts every address): a client connecting directly chooses
   * its own address.
   */
  readonly trustsEveryPeer: boolean;
  /** `X-Forwarded-For` is believed from a peer that has no address (a Unix socket's). */
  readonly trustsUnixPeer: boolean;
}

/** The HTTP adapter as far as {@link proxyTrustOf} reads it (Nest's `AbstractHttpAdapter`). */
export interface HttpAdapterLike {
  getType(): string;
  getInstance(): unknown;
}

/** Where a forged address sits in the probe: leftmost, as a client would send it. */
const FORGED_ADDRESS = '192.0.2.1';
/**
 * Probes: a direct client (public address) that sends a chain of 32 forwarded addresses,
 * the forged one leftmost. Only an adapter that trusts every hop resolves the forged one:
 * a hop count below 32 stops earlier, an address list stops at the client.
 */
const DIRECT_CLIENTS: readonly { peer: string; forwardedFor: string }[] = [
  { peer: '198.51.100.7', forwardedFor: forgedChain((i) => `203.0.113.${i}`) },
  { peer: '2001:db8:7::7', forwardedFor: forgedChain((i) => `2001:db8:9::${i.toString(16)}`) },
];

/** An `X-Forwarded-For` of the forged address followed by 31 proxies' (`proxy(1)` … `proxy(31)`). */
function forgedChain(proxy: (i: number) => string): string {
  return [FORGED_ADDRESS, ...Array.from({ length: 31 }, (_, i) => proxy(i + 1))].join(', ');
}

/**
 * How the adapter's proxy trust treats direct clients and Unix-socket peers, found by
 * asking its own `ip` resolution about synthetic requests (so every form of the setting,
 * and every adapter version, answers as it would for real requests). `undefined` when the
 * adapter is neither Express nor Fastify, or its request prototype cannot be reached.
 * Reads Express's public `app.request`, and Fastify's request class (not public API:
 * found by its symbol's description, `fastify.Request`).
 */
export function proxyTrustOf(adapter: HttpAdapterLike): ProxyTrust | undefined {
  const resolve = clientAddressResolverOf(adapter);
  if (!resolve) return undefined;
  try {
    const type = adapter.getType();
    return {
      adapter: type === 'express' ? 'express' : 'fastify',
      setting: type === 'express' ? 'trust proxy' : 'trustProxy',
      trustsEveryPeer: DIRECT_CLIENTS.some(({ peer, forwardedFor }) => resolve(peer, forwardedFor) === FORGED_ADDRESS),
      trustsUnixPeer: resolve(undefined, FORGED_ADDRESS) === FORGED_ADDRESS,
    };
  } catch {
    // An adapter whose resolution needs more of a request than the probe has: no verdict.
    return undefined;
  }
}

/**
 * How the adapter resolves a client address: its own `ip` (trust-proxy aware) of a request
 * from `peer` carrying `forwardedFor` as `X-Forwarded-For`. For requests the adapter never
 * routes, such as WebSocket upgrades, whose client must be keyed as an HTTP request of the
 * same connection would be. `undefined` when the adapter is neither Express nor Fastify, or
 * its request prototype cannot be reached (see {@link proxyTrustOf}).
 */
export function clientAddressResolverOf(
  adapter: HttpAdapterLike,
): ((peer: string | undefined, forwardedFor: string | undefined) => unknown) | undefined {
  try {
    const type = adapter.getType();
    const instance = adapter.getInstance() as Record<string | symbol, unknown> | undefined;
    if (!instance) return undefined;
    if (type === 'express' && typeof instance.request === 'object' && instance.request !== null) {
      const prototype = instance.request;
      return (peer, forwardedFor) =>
        (Object.create(prototype, syntheticRequest(peer, forwardedFor)) as { ip?: unknown }).ip;
    }
    if (type === 'fastify') {
      const symbol = Object.getOwnPropertySymbols(instance).find((s) => s.description === 'fastify.Request');
      const requestClass = symbol && (instance[symbol] as { prototype?: object } | undefined);
      const prototype = requestClass?.prototype;
      if (!prototype) return undefined;
      return (peer, forwardedFor) =>
        (
          Object.create(prototype, { raw: { value: Object.create(null, syntheticRequest(peer, forwardedFor)) } }) as {
            ip?: unknown;
          }
        ).ip;
    }
    return undefined;
  } catch {
    return undefined;
  }
}

/** The parts of a Node request that address resolution reads (proxy-addr: socket and X-Forwarded-For). */
function syntheticRequest(peer: string | undefined, forwardedFor: string | undefined): PropertyDescriptorMap {
  return {
    socket: { value: { remoteAddress: peer } },
    connection: { value: { remoteAddress: peer } },
    headers: { value: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor } },
  };
}
