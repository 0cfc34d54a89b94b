/**
 * The operator dashboard's counts, as one instance gathers them between flushes and as the
 * Redis hash holds them summed over every instance. Field names are JSON arrays
 * (`["rl","default","minute","rejected"]`), so no policy, tier or route name can collide
 * with another whatever characters it holds.
 */

/** How a decision counts in one (policy, tier). */
export type DecisionOutcome = 'allowed' | 'rejected';

/** Where a cache lookup was answered: the in-process L1, Redis, a stale entry, or the handler. */
export type CacheLayer = 'l1' | 'redis' | 'stale' | 'miss';

/** The `X-Cache-Status` values a route's row counts. */
export type RouteStatus = 'HIT' | 'STALE' | 'MISS' | 'BYPASS';

/** One (policy, tier) row of the dashboard. */
export interface DecisionCount {
  policy: string;
  tier: string;
  allowed: number;
  rejected: number;
}

/** One route template's row of the dashboard. */
export interface RouteCount {
  route: string;
  hit: number;
  stale: number;
  miss: number;
  bypass: number;
}

/** Every count of the dashboard, summed over every instance. */
export interface DashboardCounts {
  decisions: DecisionCount[];
  layers: Record<CacheLayer, number>;
  routes: RouteCount[];
  /** Instance id → its last heartbeat, in ms since the epoch. */
  instances: Record<string, number>;
}

/** The prefix of an instance's heartbeat field: `["instance","<id>"]`. */
const INSTANCE = 'instance';
const LAYERS: readonly CacheLayer[] = ['l1', 'redis', 'stale', 'miss'];
const ROUTE_KEYS: Readonly<Record<RouteStatus, keyof Omit<RouteCount, 'route'>>> = {
  HIT: 'hit',
  STALE: 'stale',
  MISS: 'miss',
  BYPASS: 'bypass',
};

/**
 * Counts of one instance between two flushes: a map from field name to increment, so a
 * flush is one `HINCRBY` per field that moved. Adding is a map lookup, no I/O.
 */
export class DashboardTally {
  private readonly counts = new Map<string, number>();

  /** Counts one decision in one (policy, tier). */
  decision(policy: string, tier: string, outcome: DecisionOutcome): void {
    this.add(JSON.stringify(['rl', policy, tier, outcome]));
  }

  /** Counts one lookup by the layer that answered it. */
  layer(layer: CacheLayer): void {
    this.add(JSON.stringify(['layer', layer]));
  }

  /** Counts one cacheable request of a route template by its final `X-Cache-Status`. */
  route(route: string, status: RouteStatus): void {
    this.add(JSON.stringify(['route', route, status]));
  }

  /** Whether nothing was counted. */
  get empty(): boolean {
    return this.counts.size === 0;
  }

  /** Field → increment, to send. */
  entries(): [string, number][] {
    return [...this.counts];
  }

  /** Adds another tally's counts (what a failed flush puts back). */
  merge(other: DashboardTally): DashboardTally {
    for (const [field, count] of other.counts) this.add(field, count);
    return this;
  }

  private add(field: string, count = 1): void {
    this.counts.set(field, (this.counts.get(field) ?? 0) + count);
  }
}

/** The heartbeat field of one instance. */
export function instanceField(instanceId: string): string {
  return JSON.stringify([INSTANCE, instanceId]);
}

/**
 * Reads the hash back into rows, sorted by name; fields it does not know (a newer
 * version's) are skipped.
 */
export function parseDashboardHash(hash: Readonly<Record<string, string>>): DashboardCounts {
  const decisions = new Map<string, DecisionCount>();
  const routes = new Map<string, RouteCount>();
  const layers: Record<CacheLayer, number> = { l1: 0, redis: 0, stale: 0, miss: 0 };
  const instances: Record<string, number> = {};
  for (const [field, raw] of Object.entries(hash)) {
    const parts = parseField(field);
    const value = Number(raw);
    if (!parts || !Number.isFinite(value)) continue;
    const [kind, a, b, c] = parts;
    if (kind === 'rl' && parts.length === 4 && (c === 'allowed' || c === 'rejected')) {
      const key = JSON.stringify([a, b]);
      const row = decisions.get(key) ?? { policy: a!, tier: b!, allowed: 0, rejected: 0 };
      row[c] += value;
      decisions.set(key, row);
    } else if (kind === 'layer' && parts.length === 2 && (LAYERS as readonly string[]).includes(a!)) {
      layers[a as CacheLayer] += value;
    } else if (kind === 'route' && parts.length === 3 && b! in ROUTE_KEYS) {
      const row = routes.get(a!) ?? { route: a!, hit: 0, stale: 0, miss: 0, bypass: 0 };
      row[ROUTE_KEYS[b as RouteStatus]] += value;
      routes.set(a!, row);
    } else if (kind === INSTANCE && parts.length === 2) {
      instances[a!] = value;
    }
  }
  const byName = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
  return {
    decisions: [...decisions.values()].sort((x, y) => byName(x.policy, y.policy) || byName(x.tier, y.tier)),
    layers,
    routes: [...routes.values()].sort((x, y) => byName(x.route, y.route)),
    instances,
  };
}

/** A field's parts, or undefined when it is not a JSON array of strings. */
function parseField(field: string): string[] | undefined {
  try {
    const parts: unknown = JSON.parse(field);
    return Array.isArray(parts) && parts.every((part) => typeof part === 'string') ? parts : undefined;
  } catch {
    return undefined;
  }
}
