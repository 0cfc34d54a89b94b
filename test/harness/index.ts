// Real Redis processes for integration tests; see each module for details.
// The 6379 guard (forbid-default-redis.ts) is a jest setup file, deliberately not re-exported.
export {
  DEFAULT_REDIS_PORT,
  FORBIDDEN_PORT_MESSAGE,
  freePort,
  isPortFree,
  LOOPBACK,
  type FreePortOptions,
} from './ports.js';
export { startRedisCluster, type RedisCluster, type StartRedisClusterOptions } from './redis-cluster.js';
export {
  COMMAND_TIMEOUT_MS,
  encodeCommand,
  isPortInUse,
  sendCommand,
  startRedis,
  type RedisAddress,
  type RedisServer,
  type RespReply,
  type StartRedisOptions,
} from './redis-server.js';
export { keysOf, RespCommandParser, startRespProxy, type RecordedCommand, type RespProxy } from './resp-proxy.js';
export {
  startRedisSentinel,
  type RedisSentinel,
  type SentinelProcess,
  type StartRedisSentinelOptions,
} from './redis-sentinel.js';
export { redisTlsSupport, startRedisTls, type RedisTls, type RedisTlsSupport } from './redis-tls.js';
