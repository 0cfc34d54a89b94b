import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { RateLimit } from 'nestjs-redis-shield';
import { WS_PING_POLICY } from '../rate-limit.config.js';

/** Where the demo's WebSocket gateway listens (platform-ws; outside the `api/v1` prefix). */
export const WS_PATH = '/ws';

/**
 * A WebSocket gateway at `/ws` (plain WebSockets through `@nestjs/platform-ws`): send
 * `{"event":"ping"}`, get `{"event":"pong","data":{"generated_at":…}}`. `ping` is limited
 * by the `ws-ping` policy per client address (the global rate-limit guard applies to
 * gateways too); a rejected ping is answered `{"event":"exception","data":<the 429 body>}`
 * and the socket stays open.
 */
@WebSocketGateway({ path: WS_PATH })
export class PingGateway {
  @SubscribeMessage('ping')
  @RateLimit(WS_PING_POLICY)
  ping() {
    return { event: 'pong', data: { generated_at: new Date().toISOString() } };
  }
}
