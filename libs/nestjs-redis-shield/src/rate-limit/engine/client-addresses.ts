import type { LoggerService } from '@nestjs/common';
import type { EventEmitter } from 'node:events';
import { rememberConnectingAddresses } from '../../core/http/http-facade.js';
import { type HttpAdapterLike, proxyTrustOf } from '../../core/http/proxy-trust.js';

/** The HTTP adapter as {@link watchClientAddresses} uses it (Nest's `AbstractHttpAdapter`). */
export interface WatchedHttpAdapter extends HttpAdapterLike {
  getHttpServer(): unknown;
}

/** The part of a Node server the watch reads once it listens. */
interface ListeningServer extends EventEmitter {
  readonly listening?: boolean;
  address(): unknown;
}

/**
 * What the rate-limit guard does at application bootstrap, once per HTTP server (after
 * the application configured the adapter's proxy trust, before the server listens):
 *
 * - remembers each connection's peer address as it opens, so a request whose client
 *   already hung up is keyed by its address, not by the shared `ip:unknown`;
 * - warns when the adapter trusts `X-Forwarded-For` from every peer (Express
 *   `trust proxy` true, Fastify `trustProxy: true`, or a function trusting everything):
 *   then any client picks its own bucket;
 * - once listening, warns when the server is on a Unix socket and the adapter trusts no
 *   proxy header from it: no request has an address, every anonymous one shares one bucket.
 *
 * Does nothing without an HTTP server (an application context, a microservice).
 */
export function watchClientAddresses(adapter: WatchedHttpAdapter | undefined, logger: LoggerService): void {
  const server = adapter?.getHttpServer() as ListeningServer | undefined;
  if (!adapter || typeof server?.on !== 'function') return;
  // A second guard instance (the module imported twice) must not warn twice.
  if (!rememberConnectingAddresses(server)) return;
  const trust = proxyTrustOf(adapter);
  if (trust?.trustsEveryPeer) {
    const instead =
      trust.adapter === 'express'
        ? "the number of proxies in front of the application (a hop count, e.g. 1) or the proxies' addresses"
        : "the proxies' addresses (or a function of the hop, e.g. (address, hop) => hop < 1)";
    logger.warn(
      `The HTTP adapter's ${trust.setting} setting trusts X-Forwarded-For from every address: any client can ` +
        `choose its own address, and so its own rate-limit bucket. Set ${trust.setting} to ${instead} instead.`,
    );
  }
  if (!trust || trust.trustsUnixPeer) return;
  const checkUnixSocket = () => {
    if (typeof server.address() !== 'string') return;
    const trusting =
      trust.adapter === 'express' ? 'a hop count (e.g. 1)' : 'a function of the hop (e.g. (address, hop) => hop < 1)';
    logger.warn(
      `The HTTP server listens on a Unix socket and ${trust.setting} trusts no proxy header from it: clients cannot ` +
        'be told apart, and all anonymous requests share one rate-limit bucket (ip:unknown). Have the proxy send ' +
        `X-Forwarded-For and set ${trust.setting} to ${trusting} (address lists never match a Unix socket), ` +
        'or key clients with the clientId option.',
    );
  };
  if (server.listening) checkUnixSocket();
  else server.once('listening', checkUnixSocket);
}
