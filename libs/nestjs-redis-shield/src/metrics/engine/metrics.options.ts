import type { Registry } from 'prom-client';
import { shieldError } from '../../core/errors.js';
import { checkOneOf } from '../../core/validators.js';
import type { AuthorizeOption } from '../../system-api/nest/system-api.options.js';

/**
 * What `shield_cache_entry_bytes` records of per-user cache entries (routes not
 * `@CacheShared()`): `off` leaves them out, `aggregate` records them all under
 * `route="(per-user)"`, `by-route` under their own route template.
 */
export type PerUserEntrySizes = 'off' | 'aggregate' | 'by-route';

/** Every {@link PerUserEntrySizes} value, for validation. */
export const PER_USER_ENTRY_SIZES: readonly PerUserEntrySizes[] = ['off', 'aggregate', 'by-route'];

/** Options of `ShieldMetricsModule.forRoot`. */
export interface ShieldMetricsModuleOptions {
  /**
   * The prom-client registry to add the metrics to, e.g. the global `register` so one
   * endpoint serves yours and ours. Default: a registry of the module's own.
   */
  registry?: Registry;
  /** Prefix of every metric name. Default `shield_`. */
  prefix?: string;
  /** Also collect prom-client's default Node.js process metrics into the registry. Default false. */
  defaultMetrics?: boolean;
  /**
   * Whether the sizes of per-user cache entries reach `shield_cache_entry_bytes`. Default
   * `off`: only shared (`@CacheShared()`) entries are observed, whose body is the same for
   * every caller.
   *
   * **Risk.** A per-user entry's size is a fact about one user's response. With
   * `by-route`, a route few users hit gives away the size of each one's body: the rise of
   * `_sum` between two scrapes where `_count` rose by one is that entry's size in bytes
   * (after compression). `aggregate` pools every per-user route under the one label value
   * `route="(per-user)"`, which hides the route but not the size when a single user is
   * active. Opt in only when whoever can read the metrics may know that (see `authorize`).
   */
  perUserEntrySizes?: PerUserEntrySizes;
  /**
   * Who may scrape the endpoint the module mounts: a function of the request answering
   * `allow`, `unauthenticated` (401) or `forbidden` (403), or a guard class, as
   * `SystemApiModule`'s option of the same name. Default: none, the endpoint is public;
   * then restrict it otherwise (network policy, a proxy), as the metrics show the
   * traffic's shape. Prometheus sends credentials with `authorization` in its scrape config.
   */
  authorize?: AuthorizeOption;
}

/** Throws at start-up on an option of the wrong shape (the forms TypeScript cannot see: async factories, JS). */
export function validateMetricsOptions(options: ShieldMetricsModuleOptions): void {
  const { perUserEntrySizes, authorize } = options;
  if (perUserEntrySizes !== undefined) {
    checkOneOf(
      'perUserEntrySizes',
      perUserEntrySizes,
      PER_USER_ENTRY_SIZES,
      PER_USER_ENTRY_SIZES.map((v) => `'${v}'`).join(', '),
    );
  }
  if (authorize !== undefined && typeof authorize !== 'function') {
    throw shieldError('invalidOption', 'authorize', authorize, 'a function of the request, or a guard class');
  }
}
