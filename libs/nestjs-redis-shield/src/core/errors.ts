/**
 * Every message the library throws, in one place so wording stays consistent and tests
 * can match it; each has a stable code in {@link ERROR_CODES}. Option messages name the
 * option, the value given and what is allowed.
 */
export const messages = {
  invalidOption: (option: string, value: unknown, expected: string) =>
    `nestjs-redis-shield: invalid option ${option}=${formatValue(value)}: expected ${expected}`,
  conflictingOptions: (first: string, second: string) =>
    `nestjs-redis-shield: options ${first} and ${second} cannot be used together`,
  unknownConnection: (user: string, name: string, known: string[]) =>
    `nestjs-redis-shield: ${user}: unknown Redis connection '${name}' ` +
    `(registered: ${known.map((k) => `'${k}'`).join(', ') || 'none; is RedisModule.forRoot imported?'})`,
  unknownPolicy: (name: string, known: string[]) =>
    `nestjs-redis-shield: unknown rate-limit policy '${name}' (configured: ${known.join(', ') || 'none'})`,
  redisUnavailable: (connection: string, reason: string) => `Redis connection '${connection}' unavailable: ${reason}`,
  redisCommandFailed: (connection: string, cause: unknown) =>
    `Redis connection '${connection}' command failed: ${describe(cause)}`,
  redisJsonParse: (key: string, cause: unknown) => `Value at key '${key}' is not valid JSON: ${describe(cause)}`,
  redisJsonSerialise: (key: string, cause: unknown) =>
    `Value for key '${key}' cannot be serialised to JSON: ${describe(cause)}`,
  invalidArgument: (name: string, value: unknown, expected: string) =>
    `${name} must be ${expected}, got ${String(value)}`,
  scriptConflict: (name: string) => `nestjs-redis-shield: script '${name}' is already defined with another body`,
  busChannelUnowned: () => "the Cluster's slot map names no master for the bus channel yet",
  adminDisabled: () => 'admin endpoints disabled',
  authenticationRequired: () => 'authentication required',
  adminRoleRequired: () => 'admin role required',
  metricsAccessDenied: () => 'metrics access denied',
  invalidUserId: () => 'user_id must be 1-256 characters',
  invalidPatternParameter: (parameter: string, reason: string) => `${parameter}: ${reason}`,
  // cache
  invalidCacheTtl: (ttl: unknown, routeId: string, profiles: string[]) =>
    `nestjs-redis-shield: @CacheTtl(${JSON.stringify(ttl)}) on ${routeId}: unknown TTL profile or non-positive seconds; ` +
    `expected a positive number of seconds or one of the ttlProfiles: ${profiles.join(', ')}`,
  invalidPattern: (rule: 'empty' | 'maxPatternLength' | 'maxPatternStars', found = 0, cap = 0) =>
    rule === 'empty'
      ? 'pattern is empty'
      : rule === 'maxPatternLength'
        ? `pattern is ${found} characters long, more than maxPatternLength (${cap})`
        : `pattern has ${found} '*', more than maxPatternStars (${cap})`,
  invalidDeclaredPattern: (pattern: string, owner: string, reason: string) =>
    `nestjs-redis-shield: @InvalidateCache(${JSON.stringify(pattern.slice(0, 64))}) on ${owner}: ${reason}`,
  corruptEntry: (problem: string) => problem,
  cacheValueNotJson: (key: string) => `cache value for '${key}' has no JSON form`,
  // rate limiting
  rateLimitExceeded: () => 'Too many requests. Please try again later.' as const,
  costExceedsLimit: (cost: number, limit: number, tier: { policy: string; tier: string }) =>
    `This request costs ${cost} units, more than the ${limit} per window of tier "${tier.tier}" ` +
    `of policy "${tier.policy}": it can never be admitted.`,
  rateLimitUnavailable: () => 'Rate limiting is temporarily unavailable. Please try again later.',
  invalidCostPolicy: (owner: string, name: string, policies: string[]) =>
    messages.invalidOption(
      `@RateLimitCost policies on ${owner}`,
      name,
      `one of the route's policies (${policies.join(', ')})`,
    ),
  graphqlNoRequest: (field: string) =>
    `nestjs-redis-shield: the GraphQL context of ${field} holds no HTTP request to identify the client by: ` +
    'keep `req` in the context your GraphQL driver builds (e.g. `context: ({ req, res }) => ({ req, res })`; ' +
    'for Mercurius subscriptions `subscription: { context: (socket, req) => ({ req }) }`), or exempt the resolver with @SkipRateLimit()',
  // system API
  invalidClientAddress: () => 'client: ip:<address> needs an IP address',
  // load shedding
  serverOverloaded: () => 'The server is overloaded. Please try again later.',
  invalidClientHash: () => 'client: hmac:<id> needs the 22-character HMAC a violation or the dashboard shows',
  hashedResetUnsupported: () =>
    'this rate limiter cannot reset a client by its HMAC: its store keys clients its own way (reset by user id or IP)',
};

/** The name of one of the library's {@link messages}. */
export type ShieldMessageKind = keyof typeof messages;

/**
 * The stable code of every error the library throws, by message: `SHIELD_E<nnn>`, never
 * reused or renumbered, so logs and alerts can match the code while the wording improves.
 * The README's "Error codes" section says when each is thrown and what to do.
 */
export const ERROR_CODES = {
  /** An option of a module (or of a call such as `RedisHealthIndicator.isHealthy`) is out of its range. */
  invalidOption: 'SHIELD_E001',
  /** Two options that exclude each other were both given. */
  conflictingOptions: 'SHIELD_E002',
  /** A module or the health indicator names a Redis connection that was not registered. */
  unknownConnection: 'SHIELD_E003',
  /** A route or call names a rate-limit policy that is not configured. */
  unknownPolicy: 'SHIELD_E004',
  /** `RedisUnavailableError`: Redis could not serve a call in time (timeout, connection, breaker open). */
  redisUnavailable: 'SHIELD_E005',
  /** `RedisCommandError`: Redis answered a command with an error (`OOM`, `WRONGTYPE`, a script error). */
  redisCommandFailed: 'SHIELD_E006',
  /** `RedisJsonError` from `RedisService.getJson`: the stored value is not JSON. */
  redisJsonParse: 'SHIELD_E007',
  /** `RedisJsonError` from `RedisService.setJson`: the value has no JSON form. */
  redisJsonSerialise: 'SHIELD_E008',
  /** A `RangeError`: an argument of a call is out of its range (a TTL, a cache digest). */
  invalidArgument: 'SHIELD_E009',
  /** One Lua script name was defined twice on a connection with different bodies. */
  scriptConflict: 'SHIELD_E010',
  /** The instance bus found no master for its channel in the Cluster's slot map (it retries). */
  busChannelUnowned: 'SHIELD_E011',
  /** HTTP 403 `{"error":"admin endpoints disabled"}`: `SystemApiModule` has no `authorize`. */
  adminDisabled: 'SHIELD_E012',
  /** HTTP 401 `{"error":"authentication required"}`: `authorize` answered `unauthenticated`. */
  authenticationRequired: 'SHIELD_E013',
  /** HTTP 403 `{"error":"admin role required"}`: the system API's `authorize` answered `forbidden`. */
  adminRoleRequired: 'SHIELD_E014',
  /** HTTP 403 `{"error":"metrics access denied"}`: the metrics endpoint's `authorize` answered `forbidden`. */
  metricsAccessDenied: 'SHIELD_E015',
  /** HTTP 400: a system API `user_id` is not 1-256 characters. */
  invalidUserId: 'SHIELD_E016',
  /** HTTP 400: an invalidation pattern of the system API exceeds the cache's caps. */
  invalidPatternParameter: 'SHIELD_E017',
  // cache
  /** A route's `@CacheTtl` names no TTL profile or gives non-positive seconds (thrown on the route's first request). */
  invalidCacheTtl: 'SHIELD_E018',
  /** `InvalidPatternError` from `CacheService.invalidatePattern` / `clearEndpoint`: the pattern is empty or over a cap. */
  invalidPattern: 'SHIELD_E019',
  /** `InvalidPatternError` at start-up: an `@InvalidateCache` pattern is empty or over a cap. */
  invalidDeclaredPattern: 'SHIELD_E020',
  /** `CorruptEntryError`: a stored cache entry cannot be decoded (the interceptor deletes it and runs the handler). */
  corruptEntry: 'SHIELD_E021',
  /** A `TypeError` from `CacheService.set`: the value has no JSON form. */
  cacheValueNotJson: 'SHIELD_E022',
  // rate limiting
  /** HTTP 429 `RateLimitExceededException`: a client is over a tier's limit (`Retry-After` says when to retry). */
  rateLimitExceeded: 'SHIELD_E023',
  /** HTTP 429 `CostExceedsLimitException`: a request's cost exceeds a tier's limit, so no wait lets it pass. */
  costExceedsLimit: 'SHIELD_E024',
  /** HTTP 503 `RateLimitUnavailableException`: the store failed and the module fails closed. */
  rateLimitUnavailable: 'SHIELD_E025',
  /** At start-up: a route's `@RateLimitCost` names a policy the route is not limited by. */
  invalidCostPolicy: 'SHIELD_E026',
  // system API
  /** HTTP 400: a system API `client` of the form `ip:<address>` holds no IP address. */
  invalidClientAddress: 'SHIELD_E027',
  /** A rate-limited GraphQL resolver ran with a context that holds no request (`req`) to identify the client by. */
  graphqlNoRequest: 'SHIELD_E028',
  // load shedding
  /** HTTP 503 `LoadSheddingException`: the event loop lags past `loadShedding.maxEventLoopDelayMs` and the route sheds first. */
  serverOverloaded: 'SHIELD_E029',
  /** HTTP 400: a system API `client` of the form `hmac:<id>` holds no 22-character HMAC. */
  invalidClientHash: 'SHIELD_E030',
  /** HTTP 400 (or `HashedResetUnsupportedError` from `RateLimitService.resetHashed`): a custom store cannot reset a client by its HMAC. */
  hashedResetUnsupported: 'SHIELD_E031',
} as const satisfies Record<ShieldMessageKind, `SHIELD_E${number}`>;

/** Every code, to tell the library's errors from others. */
const CODES: ReadonlySet<string> = new Set(Object.values(ERROR_CODES));

/** One of the codes in {@link ERROR_CODES}. */
export type ShieldErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/** An error the library threw, carrying its stable {@link ShieldErrorCode}. */
export type ShieldError<E extends Error = Error> = E & {
  /** The error's stable code, e.g. `SHIELD_E001`. */
  readonly code: ShieldErrorCode;
};

/**
 * Tags `error` with the code of the message it carries and returns it, for `throw`: the
 * form for errors that are not a plain `Error` (a `RangeError`, an `HttpException`).
 *
 * @example
 * throw withCode(new RangeError(messages.invalidArgument('ttlSeconds', 0, 'positive')), 'invalidArgument');
 */
export function withCode<E extends Error>(error: E, kind: ShieldMessageKind): ShieldError<E> {
  return Object.assign(error, { code: ERROR_CODES[kind] });
}

/**
 * A new `Error` with the text of `messages[kind](...args)` and its code.
 *
 * @example
 * throw shieldError('invalidOption', 'commandTimeoutMs', 0, 'a positive integer');
 */
export function shieldError<K extends ShieldMessageKind>(
  kind: K,
  ...args: Parameters<(typeof messages)[K]>
): ShieldError {
  const text = (messages[kind] as (...params: Parameters<(typeof messages)[K]>) => string)(...args);
  return withCode(new Error(text), kind);
}

/** The {@link ShieldErrorCode} of an error the library threw; undefined for any other value. */
export function shieldErrorCode(error: unknown): ShieldErrorCode | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && CODES.has(code) ? (code as ShieldErrorCode) : undefined;
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined || value === null) {
    return String(value);
  }
  return typeof value;
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
