import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthUser } from '../auth/auth-user.js';

/**
 * The request as the demo's middleware sees it on either adapter: Express hands
 * middleware its own request (an IncomingMessage with `ip`, `route`), Fastify the raw
 * IncomingMessage. Only fields both can provide are required.
 */
export type DemoRequest = IncomingMessage & {
  user?: AuthUser;
  ip?: string;
};

export type DemoResponse = ServerResponse;

/** The client address: Express's `req.ip` (trust-proxy aware), else the socket peer. */
export function clientAddress(req: DemoRequest): string {
  return req.ip ?? req.socket?.remoteAddress ?? 'unknown';
}
