import { shieldError } from '../../core/errors.js';
import { checkIntegerInRange, checkOneOf } from '../../core/validators.js';
import { DEFAULT_ALGORITHM, RATE_LIMIT_ALGORITHMS, type RateLimitAlgorithmName } from './algorithms/registry.js';
import { DEFAULT_LEASE_MS, MAX_CONCURRENCY_LIMIT, MAX_LEASE_MS } from './concurrency.js';
import type { ConcurrencyTier, RateLimitPolicy, RateLimitTier } from './rate-limit.types.js';

/** One tier as users write it. */
export interface TierDefinition {
  /** `rate` (the default): a quota per window. */
  kind?: 'rate';
  /** Units allowed per window: an integer from 1 to {@link MAX_TIER_LIMIT} (10^9). */
  limit: number;
  /** The window in milliseconds: an integer from 1 to {@link MAX_TIER_WINDOW_MS} (31 days). */
  windowMs: number;
  /** Overrides the policy's algorithm for this tier. */
  algorithm?: RateLimitAlgorithmName;
}

/**
 * A limit on requests in flight as users write it, among a policy's tiers: at most `limit`
 * requests of one client at once across every instance, e.g.
 * `{ tiers: { minute: { limit: 60, windowMs: 60_000 }, inflight: { kind: 'concurrency', limit: 2 } } }`.
 * At most one per policy.
 */
export interface ConcurrencyTierDefinition {
  /** Always `concurrency`: what tells this tier from a rate tier. */
  kind: 'concurrency';
  /** Requests in flight at once: an integer from 1 to {@link MAX_CONCURRENCY_LIMIT} (10^6). */
  limit: number;
  /**
   * How long a slot is held at most (ms), an integer from 1 to 1 day. Default 60 000
   * ({@link DEFAULT_LEASE_MS}). A slot is released when the response finishes or the
   * connection closes; the lease frees the slots of an instance that died holding them.
   * A request running longer than its lease stops counting when the lease ends.
   */
  leaseMs?: number;
}

/** Any tier of a policy definition: a rate tier, or the policy's concurrency tier. */
export type PolicyTierDefinition = TierDefinition | ConcurrencyTierDefinition;

/** A policy as users write it: named tiers, e.g. `{ tiers: { minute: { limit: 60, windowMs: 60_000 } } }`. */
export interface PolicyDefinition {
  /**
   * Tiers by name (at least one); names are 1–64 of `A-Z a-z 0-9 _ . : -`. At most one of
   * them may be a {@link ConcurrencyTierDefinition} (`kind: 'concurrency'`).
   */
  tiers: Record<string, PolicyTierDefinition>;
  /** Algorithm of every tier without its own. Default: the module's `algorithm`. */
  algorithm?: RateLimitAlgorithmName;
  /** Count and report, never reject. Default false. */
  shadow?: boolean;
}

/** The name of the policy every limited route uses unless told otherwise. */
export const DEFAULT_POLICY = 'default';

const NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
/** Policy names may name a plan variant: `<policy>@<plan>`. */
const POLICY_NAME = /^[A-Za-z0-9_.:-]{1,64}(@[A-Za-z0-9_.:-]{1,32})?$/;
/**
 * The largest limit of a tier, 10^9 units per window. Every algorithm is exact up to it
 * (for every window in range and every cost up to the limit): the arithmetic on Redis's
 * doubles is sized for it (see algorithms/exact-arithmetic.ts).
 */
export const MAX_TIER_LIMIT = 1_000_000_000;

/** The longest window of a tier, 31 days in ms (2 678 400 000 < 2^32, as the exact arithmetic needs). */
export const MAX_TIER_WINDOW_MS = 31 * 86_400_000;

/** Validates a policy definition and applies the default algorithm; throws naming the bad option. */
export function buildPolicy(
  name: string,
  definition: PolicyDefinition,
  defaultAlgorithm: RateLimitAlgorithmName,
): RateLimitPolicy {
  const where = `policies.${name}`;
  if (!POLICY_NAME.test(name)) {
    throw shieldError('invalidOption', 'policy name', name, '1-64 of A-Z a-z 0-9 _ . : -, optionally @<plan>');
  }
  const algorithm = definition.algorithm ?? defaultAlgorithm;
  checkAlgorithm(`${where}.algorithm`, algorithm);
  const entries = Object.entries(definition.tiers ?? {});
  if (entries.length === 0) throw shieldError('invalidOption', `${where}.tiers`, 0, 'at least one tier');
  const tiers: RateLimitTier[] = [];
  let concurrency: ConcurrencyTier | undefined;
  for (const [tierName, tier] of entries) {
    const at = `${where}.tiers.${tierName}`;
    if (!NAME.test(tierName)) throw shieldError('invalidOption', 'tier name', tierName, '1-64 of A-Z a-z 0-9 _ . : -');
    if (tier?.kind === 'concurrency') {
      if (concurrency) {
        throw shieldError(
          'invalidOption',
          `${at}.kind`,
          'concurrency',
          `no second concurrency tier (${concurrency.name} is one)`,
        );
      }
      concurrency = buildConcurrencyTier(at, tierName, tier);
      continue;
    }
    checkOneOf(`${at}.kind`, tier?.kind ?? 'rate', TIER_KINDS);
    integerWithin(`${at}.limit`, tier.limit, MAX_TIER_LIMIT, 'units per window');
    integerWithin(`${at}.windowMs`, tier.windowMs, MAX_TIER_WINDOW_MS, 'ms: 1 ms to 31 days');
    const tierAlgorithm = tier.algorithm ?? algorithm;
    checkAlgorithm(`${at}.algorithm`, tierAlgorithm);
    tiers.push({ name: tierName, limit: tier.limit, windowMs: tier.windowMs, algorithm: tierAlgorithm });
  }
  const policy: RateLimitPolicy = { name, tiers, shadow: definition.shadow ?? false };
  if (concurrency) policy.concurrency = concurrency;
  return policy;
}

/** The kinds of tier a policy definition may hold. */
const TIER_KINDS = ['rate', 'concurrency'] as const;

/** Validates a concurrency tier (throws naming the bad option) and applies the default lease. */
function buildConcurrencyTier(at: string, name: string, tier: ConcurrencyTierDefinition): ConcurrencyTier {
  const extra = tier as Partial<Pick<TierDefinition, 'windowMs' | 'algorithm'>>;
  for (const option of ['windowMs', 'algorithm'] as const) {
    if (extra[option] !== undefined) {
      throw shieldError(
        'invalidOption',
        `${at}.${option}`,
        extra[option],
        'none: a concurrency tier counts requests in flight, it has no window or algorithm',
      );
    }
  }
  integerWithin(`${at}.limit`, tier.limit, MAX_CONCURRENCY_LIMIT, 'requests in flight');
  const leaseMs = tier.leaseMs ?? DEFAULT_LEASE_MS;
  integerWithin(`${at}.leaseMs`, leaseMs, MAX_LEASE_MS, 'ms: 1 ms to 1 day');
  return { name, limit: tier.limit, leaseMs };
}

/**
 * The configured policies by name, and the inline policies of the application's routes
 * (`<Controller>.<handler>`, from `@RateLimit({ ... })`), so that a client's reset can
 * reach every bucket it may have.
 */
export class PolicyRegistry {
  private readonly byName: ReadonlyMap<string, RateLimitPolicy>;
  /** Inline route policies, by name (the first of a name is kept: keys are by name). */
  private readonly inline = new Map<string, RateLimitPolicy>();

  /** The algorithm of tiers whose policy names none (the module's `algorithm` option), for {@link PolicyRegistry.build}. */
  readonly defaultAlgorithm: RateLimitAlgorithmName;

  /**
   * Holds `policies` (already validated, e.g. by {@link buildPolicy}) by name.
   *
   * @param defaultAlgorithm The module's `algorithm` option, as applied to `policies`.
   */
  constructor(policies: readonly RateLimitPolicy[], defaultAlgorithm: RateLimitAlgorithmName = DEFAULT_ALGORITHM) {
    this.byName = new Map(policies.map((policy) => [policy.name, policy]));
    this.defaultAlgorithm = defaultAlgorithm;
  }

  /**
   * Validates a policy made after start-up (a route's inline limits, an endpoint's own
   * policy) with the module's default algorithm; it is not registered (see
   * {@link PolicyRegistry.addRoutePolicies}).
   */
  build(name: string, definition: PolicyDefinition): RateLimitPolicy {
    return buildPolicy(name, definition, this.defaultAlgorithm);
  }

  /** The policy named `name`; throws for an unknown name (a configuration error). */
  get(name: string): RateLimitPolicy {
    const policy = this.byName.get(name);
    if (!policy) throw shieldError('unknownPolicy', name, [...this.byName.keys()]);
    return policy;
  }

  /** Whether a policy named `name` is configured. */
  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Records the inline policies among a route's policies (configured ones are known already). */
  addRoutePolicies(policies: readonly RateLimitPolicy[]): void {
    for (const policy of policies) {
      if (this.byName.get(policy.name) !== policy && !this.inline.has(policy.name))
        this.inline.set(policy.name, policy);
    }
  }

  /** Every configured policy (plan variants included) and every route's inline policy seen so far. */
  all(): RateLimitPolicy[] {
    return [...this.byName.values(), ...this.inline.values()];
  }
}

/** Throws, naming the option and the supported range, unless `value` is an integer from 1 to `max`. */
function integerWithin(option: string, value: number, max: number, unit: string): void {
  checkIntegerInRange(option, value, 1, max, `a positive integer, at most ${max} (${unit})`);
}

/** Throws, naming the option and listing the algorithms, unless `algorithm` is one of them. */
function checkAlgorithm(option: string, algorithm: string): void {
  checkOneOf(option, algorithm, RATE_LIMIT_ALGORITHMS);
}
