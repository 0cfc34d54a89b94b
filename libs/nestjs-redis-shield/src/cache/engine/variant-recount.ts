import { BoundedMap } from '../../core/lru.js';

/** How often, at most, a route and scope at its variant cap is recounted within one generation, in ms. */
export const VARIANT_RECOUNT_MS = 60_000;

/** Most routes and scopes remembered; beyond, the one recounted longest ago is forgotten (and recounted when next at its cap). */
const MAX_REMEMBERED = 10_000;

/**
 * When a route's variant count in a scope must be checked against the entries that still
 * exist. A miss reads the count from the variant index, which invalidations cannot reach
 * (an entry they removed, or one Redis evicted, stays listed until it expires), so a route
 * at its cap (`maxVariants`) could refuse new variants while room was made. At the cap,
 * the index is recounted (pruned of entries gone) once per route, scope and invalidation
 * generation, and at least every {@link VARIANT_RECOUNT_MS} for evictions; below it, the
 * count stands.
 */
export class VariantRecounts {
  /** When each route and scope at its cap was last recounted, and in which generation. */
  private readonly recounted = new BoundedMap<string, { generation: string; at: number }>(MAX_REMEMBERED);

  constructor(
    private readonly maxVariants: number,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /**
   * Whether this count must be recounted now; when it must, the recount is noted, so the
   * misses after it (in the same generation, within {@link VARIANT_RECOUNT_MS}) trust
   * their count.
   *
   * @param count The variants the index lists for the route in the scope.
   * @param generation The invalidation generation the miss read.
   */
  due(routeId: string, scopeKey: string, count: number, generation: string): boolean {
    if (count < this.maxVariants) return false;
    const key = `${routeId}\n${scopeKey}`;
    const last = this.recounted.get(key);
    const now = this.now();
    if (last && last.generation === generation && now - last.at < VARIANT_RECOUNT_MS) return false;
    this.recounted.set(key, { generation, at: now });
    return true;
  }
}
