import {
  buildPolicy,
  DEFAULT_POLICY,
  type PolicyDefinition,
  type RateLimitModuleOptions,
  type TierDefinition,
} from 'nestjs-redis-shield';
import type { AuthUser } from './auth/auth-user.js';
import type { AppConfig } from './config/load-config.js';

/** How many times the default tiers a `pro` plan gets. */
export const PRO_MULTIPLIER = 10;

/** The `completions` policy: units per minute (a completion costs `1 + floor(max_tokens / 1000)`). */
export const COMPLETIONS_PER_MINUTE = 10;

/**
 * The largest `max_tokens` a completion may ask for: its cost, `1 + floor(max_tokens / 1000)`,
 * must fit in the `completions` limit, or no wait would ever admit the request.
 */
export const MAX_COMPLETION_TOKENS = COMPLETIONS_PER_MINUTE * 1000 - 1;

/**
 * What a completion costs in the `completions` policy: `1 + floor(max_tokens / 1000)`
 * units. Guards run before validation, so the value is read defensively: anything but a
 * valid token count costs 1 (the request is then refused by the validation pipe).
 */
export function completionUnits(maxTokens: unknown): number {
  return typeof maxTokens === 'number' &&
    Number.isInteger(maxTokens) &&
    maxTokens >= 1 &&
    maxTokens <= MAX_COMPLETION_TOKENS
    ? 1 + Math.floor(maxTokens / 1000)
    : 1;
}

/** The policy of the WebSocket gateway's `ping` message (`/ws`). */
export const WS_PING_POLICY = 'ws-ping';

/** `ping` messages a client may send per 10 s on `/ws`. */
export const WS_PINGS_PER_10_SECONDS = 5;

/** The policy that counts failed authentications (invalid bearer tokens) per client address. */
export const AUTH_FAILURES_POLICY = 'auth-failures';

/**
 * The demo's rate limits: the default policy from the environment (minute, hour,
 * burst), ten times that for JWTs with `plan: pro` (policy `default@pro`), the
 * `completions` policy of 10 per minute and `COMPLETIONS_CONCURRENCY` (default 4) in
 * flight at once, on top of the default one, and the
 * `auth-failures` policy (`AUTH_FAILURES_PER_MINUTE`, default 10) that the
 * authentication middleware consumes on each invalid token (no route uses it), and the
 * `ws-ping` policy (5 per 10 s) of the WebSocket gateway's `ping`.
 */
export function rateLimitOptions(config: AppConfig): RateLimitModuleOptions {
  const {
    perMinute,
    perHour,
    burst,
    burstWindowSeconds,
    algorithm,
    failMode,
    authFailuresPerMinute,
    completionsConcurrency,
    completionsLeaseMs,
  } = config.rateLimit;
  const tiers = (factor: number): Record<string, TierDefinition> => ({
    minute: { limit: perMinute * factor, windowMs: 60_000 },
    hour: { limit: perHour * factor, windowMs: 3_600_000 },
    burst: { limit: burst * factor, windowMs: burstWindowSeconds * 1000 },
  });
  const policies: Record<string, PolicyDefinition> = {
    'default@pro': { tiers: tiers(PRO_MULTIPLIER) },
    completions: {
      tiers: {
        minute: { limit: COMPLETIONS_PER_MINUTE, windowMs: 60_000 },
        // At most COMPLETIONS_CONCURRENCY completions of one client in flight, on every instance together.
        concurrent: { kind: 'concurrency', limit: completionsConcurrency, leaseMs: completionsLeaseMs },
      },
    },
    [AUTH_FAILURES_POLICY]: { tiers: { minute: { limit: authFailuresPerMinute, windowMs: 60_000 } } },
    [WS_PING_POLICY]: { tiers: { burst: { limit: WS_PINGS_PER_10_SECONDS, windowMs: 10_000 } } },
  };
  return {
    algorithm,
    failMode,
    defaultTiers: tiers(1),
    policies,
    plan: (_context, exchange) => (exchange.user as AuthUser | undefined)?.plan,
  };
}

/**
 * What the library would refuse in {@link rateLimitOptions}, checked before Nest starts:
 * one line per refused policy (e.g. a limit above 10^9 per window), so that `main.ts` prints
 * them and exits 1 instead of Nest logging a stack trace from inside a module factory.
 * Empty for every configuration `loadConfig` accepts; a guard for changes to the plans.
 */
export function rateLimitOptionErrors(config: AppConfig): string[] {
  const options = rateLimitOptions(config);
  const policies: Record<string, PolicyDefinition> = {
    [DEFAULT_POLICY]: { tiers: options.defaultTiers ?? {} },
    ...options.policies,
  };
  const errors: string[] = [];
  for (const [name, definition] of Object.entries(policies)) {
    try {
      buildPolicy(name, definition, options.algorithm ?? 'sliding-window');
    } catch (error) {
      errors.push(error instanceof Error ? error.message : String(error));
    }
  }
  return errors;
}
