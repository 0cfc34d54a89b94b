/** Whether a fresh response may be stored, and for how long. */
export interface StorageDecision {
  /** Whether it may be stored. */
  store: boolean;
  /** Why not, for logs and tests (`status`, `set-cookie`, `no-store`, ...). */
  reason?: string;
  /**
   * How long it is fresh, in ms: the route's, shortened by `s-maxage` / `max-age` (set by
   * them when the route respects the response's `Cache-Control`).
   */
  ttlMs: number;
  /** After `ttlMs`, how long it may be served stale while it is refreshed, in ms (0: never). */
  staleWhileRevalidateMs: number;
  /** After `ttlMs`, how long it may be served stale when the handler fails or Redis cannot be read, in ms (0: never). */
  staleIfErrorMs: number;
  /**
   * Request headers the response varies on that its key did not include: the route
   * learns them (they split its keys from then on) and this response is not stored.
   */
  learnVary?: string[];
}

/** What {@link decideStorage} reads of a response, as written to the client. */
export interface FinalResponse {
  /** The status code. */
  status: number;
  /** A response header as written (lower-case name), joined when repeated. */
  header(name: string): string | undefined;
  /** The body's size in bytes, uncompressed. */
  bodyBytes: number;
}

/** The entry's context. */
export interface StorageContext {
  /** The route's TTL, in ms. */
  routeTtlMs: number;
  /** The route's stale-while-revalidate window, in ms. Default 0. */
  routeStaleWhileRevalidateMs?: number;
  /** The route's stale-if-error window, in ms. Default 0. */
  routeStaleIfErrorMs?: number;
  /**
   * Whether the response's own `s-maxage` / `max-age`, `stale-while-revalidate` and
   * `stale-if-error` set its lifetimes (instead of only shortening the route's TTL).
   */
  respectResponseCacheControl?: boolean;
  /** Whether the entry is shared (everyone mapped to the key gets it), not one user's. */
  shared: boolean;
  /** The request headers the key was made of (lower-case). */
  keyedHeaders: ReadonlySet<string>;
  /** The largest body stored, in bytes. */
  maxEntryBytes: number;
}

/** Response headers a shared entry can never vary on safely: it would hold one client's response. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie']);

/**
 * Decides on the final response, as a correct shared cache does (RFC 9111 §3; Varnish's
 * built-in policy): a shared entry may only hold a response that every client mapped to
 * its key would have received.
 *
 * - Only 200 and 201 are stored, and never with `Set-Cookie`.
 * - `Cache-Control: no-store`, `no-cache` (with or without fields), `max-age=0`, and on
 *   shared entries `private` and `s-maxage=0`, forbid storing. `s-maxage` (shared) and
 *   `max-age` shorten the route's TTL, never lengthen it.
 * - `Vary: *` forbids storing; on shared entries so do `Authorization` and `Cookie`
 *   (per-user entries are keyed by the user already). Any other header the key did not
 *   include is learned for the route and this response is not stored.
 * - With `respectResponseCacheControl`, the response's `s-maxage` (shared) or `max-age`
 *   sets the TTL (longer or shorter than the route's), and its `stale-while-revalidate`
 *   and `stale-if-error` set the stale windows; `no-store`, `no-cache` and `private` keep
 *   their meaning.
 * - Bodies over `maxEntryBytes` are not stored.
 */
export function decideStorage(response: FinalResponse, context: StorageContext): StorageDecision {
  let ttlMs = context.routeTtlMs;
  let staleWhileRevalidateMs = context.routeStaleWhileRevalidateMs ?? 0;
  let staleIfErrorMs = context.routeStaleIfErrorMs ?? 0;
  const refuse = (reason: string, learnVary?: string[]): StorageDecision => ({
    store: false,
    reason,
    ttlMs,
    staleWhileRevalidateMs,
    staleIfErrorMs,
    learnVary,
  });
  if (response.status !== 200 && response.status !== 201) return refuse('status');
  if (response.header('set-cookie') !== undefined) return refuse('set-cookie');
  if (response.bodyBytes > context.maxEntryBytes) return refuse('size');

  const directives = cacheControl(response.header('cache-control'));
  if (directives.has('no-store')) return refuse('no-store');
  if (directives.has('no-cache')) return refuse('no-cache');
  if (context.shared && directives.has('private')) return refuse('private');
  const lifetime = context.shared && directives.has('s-maxage') ? 's-maxage' : 'max-age';
  if (directives.has(lifetime)) {
    const seconds = Number(directives.get(lifetime));
    if (!Number.isFinite(seconds) || seconds <= 0) return refuse(lifetime);
    const responseTtlMs = Math.floor(seconds) * 1000;
    ttlMs = context.respectResponseCacheControl ? responseTtlMs : Math.min(ttlMs, responseTtlMs);
    if (ttlMs <= 0) return refuse(lifetime);
  }
  if (context.respectResponseCacheControl) {
    staleWhileRevalidateMs = secondsDirective(directives, 'stale-while-revalidate') ?? staleWhileRevalidateMs;
    staleIfErrorMs = secondsDirective(directives, 'stale-if-error') ?? staleIfErrorMs;
  }

  const learn: string[] = [];
  for (const name of headerList(response.header('vary'))) {
    if (name === '*') return refuse('vary');
    if (CREDENTIAL_HEADERS.has(name)) {
      if (context.shared) return refuse('vary');
      continue;
    }
    if (!context.keyedHeaders.has(name)) learn.push(name);
  }
  if (learn.length > 0) return refuse('vary', learn);
  return { store: true, ttlMs, staleWhileRevalidateMs, staleIfErrorMs };
}

/** The most a response directive may set a stale window to: one day. */
const MAX_STALE_MS = 86_400_000;

/** A delta-seconds directive in ms (capped at a day), or undefined when absent or not a non-negative number. */
function secondsDirective(directives: Map<string, string | undefined>, name: string): number | undefined {
  if (!directives.has(name)) return undefined;
  const seconds = Number(directives.get(name));
  return Number.isFinite(seconds) && seconds >= 0 ? Math.min(Math.floor(seconds) * 1000, MAX_STALE_MS) : undefined;
}

/** `Cache-Control` directives by lower-case name, with their value (unquoted) if any; commas inside quotes are kept. */
export function cacheControl(header: string | undefined): Map<string, string | undefined> {
  const directives = new Map<string, string | undefined>();
  if (!header) return directives;
  for (const part of header.match(/(?:[^,"]|"[^"]*")+/g) ?? []) {
    const [name, ...rest] = part.split('=');
    const key = name.trim().toLowerCase();
    if (key === '') continue;
    const value =
      rest.length > 0
        ? rest
            .join('=')
            .trim()
            .replace(/^"(.*)"$/, '$1')
        : undefined;
    if (!directives.has(key)) directives.set(key, value);
  }
  return directives;
}

/** The lower-case names of a comma-separated header list (`Vary`). */
export function headerList(header: string | undefined): string[] {
  if (!header) return [];
  return header
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '');
}
