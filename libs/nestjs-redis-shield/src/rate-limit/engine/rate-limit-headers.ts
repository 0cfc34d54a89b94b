import type { RateLimitPolicy, RateLimitResult, TierResult } from './rate-limit.types.js';

/*
 * The draft fields follow draft-ietf-httpapi-ratelimit-headers-11 (23 May 2026), read from the
 * draft's repository (github.com/ietf-wg-httpapi/ratelimit-headers, the -11 build on its
 * gh-pages branch, which is the text datatracker serves as -11). A -12 (20 Nov 2026) is listed
 * on datatracker, but its text could not be read here; the only later text found is an
 * unmerged proposal (PR #166: `r`→`a`, `t`→`w`, a `c` cost and a `RateLimit-Partition`
 * field), which this module does not speak until a published revision does.
 *
 * What -11 requires, and what we send:
 * - `RateLimit-Policy` (§3): a non-empty List (RFC 9651 §3.1) of Items whose bare item MUST be
 *   a String (quoted, `"minute"`). Parameters: `q` REQUIRED non-negative Integer (the quota);
 *   `w` OPTIONAL Integer > 0, seconds (the window; we always send it); `qu` OPTIONAL String,
 *   the quota unit, default `"requests"` (we omit it: a cost still counts requests, and the
 *   draft leaves how many units a request takes to the server); `pk` OPTIONAL Byte Sequence
 *   (we send it on `RateLimit` only, so this field stays the same for every client).
 * - `RateLimit` (§4): a List of Items naming a policy of `RateLimit-Policy` (same String).
 *   `r` REQUIRED non-negative Integer (available quota, never above `q`); `t` OPTIONAL
 *   non-negative Integer, seconds (the effective window; we always send it); `pk` OPTIONAL
 *   Byte Sequence (the partition key: see {@link partitionKeyOf}).
 * - §6: with `Retry-After`, it SHOULD NOT name a time earlier than the end of the effective
 *   window: a rejecting tier's `t` is its retry time, never later than `Retry-After`.
 * - §6.1: partition keys SHOULD carry no sensitive information and their construction SHOULD
 *   be documented (README): ours is a keyed hash, never an IP address or user id.
 * - §7.3: clients ignore the fields of a response served from a shared cache; our response
 *   cache never stores them, so a cache hit carries the current request's fields.
 */

/** Which header families to send. */
export interface HeaderOptions {
  /** `X-RateLimit-Limit`, `-Remaining`, `-Reset` of the most restrictive tier. Default true. */
  legacy?: boolean;
  /** `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers-11) for every tier. Default true. */
  draft?: boolean;
  /**
   * Adds the partition key `pk` (a Byte Sequence) to every `RateLimit` item: 12 bytes of a
   * keyed hash of the client id, the same on every instance and for every policy of the
   * client, never the address or user id itself: the first 12 bytes of
   * HMAC-SHA-256(`hashSecret`, `partition:<client id>`). Lets a client
   * that acts for several users tell their quotas apart. Costs 22 bytes per tier, so off by
   * default. Not sent where client ids are not hashed (`RateLimitTestingModule`).
   */
  partitionKey?: boolean;
}

/**
 * The largest wait HTTP delta-seconds carry (2^31, RFC 9110 §1.2.2): what {@link waitSeconds}
 * answers for a wait that never ends.
 */
export const MAX_WAIT_SECONDS = 2 ** 31;

/**
 * `ceil(ms / 1000)`, at least 1: the seconds a client must wait. A wait that never ends
 * (`Infinity`: the cost exceeds a limit) gives {@link MAX_WAIT_SECONDS}.
 */
export function waitSeconds(ms: number): number {
  return Number.isFinite(ms) ? Math.max(1, Math.ceil(ms / 1000)) : MAX_WAIT_SECONDS;
}

/**
 * What `X-RateLimit-Reset` shows as a tier's wait (ms): its reset, or on a rejection the
 * retry time when later. A retry that never comes (`Infinity`) shows the reset: the tier's
 * standing is still real, only this cost can never pass.
 */
function shownWaitMs(outcome: { allowed: boolean; resetMs: number; retryAfterMs: number }): number {
  if (outcome.allowed || !Number.isFinite(outcome.retryAfterMs)) return outcome.resetMs;
  return Math.max(outcome.resetMs, outcome.retryAfterMs);
}

/**
 * Unix seconds at which the summarised tier resets. On a rejection this is never
 * earlier than the retry time, so `reset_time` and `Retry-After` agree (unless no retry
 * can pass: then the tier's reset).
 */
export function resetUnixSeconds(result: RateLimitResult): number {
  return Math.ceil((result.nowMs + shownWaitMs(result)) / 1000);
}

/**
 * A tier's `t` (the draft's effective window, whole seconds): until its quota is restored,
 * or, for a tier that rejects, until a retry of the same cost passes it. That is what the
 * rejecting tier's `Retry-After` says too (at most it, as `Retry-After` takes the longest
 * wait of all rejecting tiers), so `Retry-After` is never earlier than the window's end
 * (§6). A retry that never comes (`Infinity`) shows the reset: `Retry-After` is then 2^31.
 */
function effectiveWindowSeconds(tier: TierResult): number {
  if (!tier.allowed && Number.isFinite(tier.retryAfterMs)) return waitSeconds(tier.retryAfterMs);
  return sfInteger(Math.ceil(tier.resetMs / 1000));
}

/**
 * An RFC 9651 Integer for a count: whole, at least 0, at most `max` (a custom store's
 * fraction or overshoot must not make the field malformed: clients drop malformed fields).
 */
function sfInteger(value: number, max = Number.MAX_SAFE_INTEGER): number {
  return Number.isFinite(value) ? Math.min(max, Math.max(0, Math.floor(value))) : 0;
}

/**
 * An RFC 9651 String (§3.3.3): printable ASCII in quotes, `\` and `"` escaped. Policy and tier
 * names are validated to a safe alphabet, so nothing is lost for them; anything else (a custom
 * store's name) has its other characters replaced by `?` rather than make the field malformed.
 */
export function sfString(value: string): string {
  return `"${value.replace(/[^\x20-\x7e]/g, '?').replace(/["\\]/g, '\\$&')}"`;
}

/** How many bytes of the client's partition HMAC `pk` carries: 96 bits, 16 base64 characters. */
const PARTITION_KEY_BYTES = 12;

/**
 * The `pk` parameter of a client (an RFC 9651 Byte Sequence, `:<base64>:`) from the HMAC
 * its partition label hashes to (`keys.hashId('partition:' + clientId)`, base64url). Under a
 * label of its own, so a `pk` cannot be matched to the client's Redis keys, logs or
 * violation stream without the hashing secret; keyed, so it cannot be reversed to an IP
 * address by enumeration. The same on every instance of a deployment (one secret).
 */
export function partitionKeyOf(hmac: string): string {
  return `:${Buffer.from(hmac, 'base64url').subarray(0, PARTITION_KEY_BYTES).toString('base64')}:`;
}

/**
 * What the draft headers of a set of policies share on every request: the
 * `RateLimit-Policy` value and each enforced tier's quoted name. Built once per policy
 * set (see {@link headerTemplate}), so a request only formats its numbers.
 */
export interface HeaderTemplate {
  /** The `RateLimit-Policy` header value, e.g. `"minute";q=60;w=60, "hour";q=1000;w=3600`. */
  policy: string;
  /** Quoted names of the enforced tiers, in decision order. */
  names: string[];
}

/**
 * The {@link HeaderTemplate} of the tiers of `policies` (the order the store decides them
 * in). Concurrency tiers are not among them: `RateLimit-Policy` and `RateLimit` describe
 * quotas per window, and requests in flight have no window.
 */
export function headerTemplate(policies: readonly RateLimitPolicy[]): HeaderTemplate {
  return templateOf(
    policies
      .filter((policy) => !policy.shadow)
      .flatMap((policy) => policy.tiers.map((tier) => ({ policy: policy.name, tier: tier.name, ...tier }))),
  );
}

/** The template of enforced tiers, in order: the first policy's tiers keep their names. */
function templateOf(
  tiers: readonly { policy: string; tier: string; limit: number; windowMs: number }[],
): HeaderTemplate {
  const firstPolicy = tiers[0]?.policy;
  const names = tiers.map((tier) => sfString(tier.policy === firstPolicy ? tier.tier : `${tier.policy}.${tier.tier}`));
  return {
    names,
    policy: tiers
      .map((tier, i) => `${names[i]};q=${sfInteger(tier.limit)};w=${Math.max(1, Math.ceil(tier.windowMs / 1000))}`)
      .join(', '),
  };
}

/** Where {@link writeRateLimitHeaders} puts the headers: a response (the HTTP facade) or a record. */
export interface HeaderSink {
  setHeader(name: string, value: string): void;
}

/**
 * The rate-limit response headers of a decision. Shadow tiers never appear. Tiers of
 * the first policy keep their own names; tiers of further policies are prefixed with
 * `<policy>.` so names stay unique (`"minute"`, `"completions.minute"`). Pass the
 * policies' {@link headerTemplate} to skip rebuilding what never changes, and the
 * client's {@link partitionKeyOf | partition key} to add `pk` (with `options.partitionKey`).
 */
export function rateLimitHeaders(
  result: RateLimitResult,
  options: HeaderOptions = {},
  template?: HeaderTemplate,
  partitionKey?: string,
): Record<string, string> {
  const headers: Record<string, string> = {};
  writeRateLimitHeaders(
    { setHeader: (name, value) => (headers[name] = value) },
    result,
    options,
    template,
    partitionKey,
  );
  return headers;
}

/**
 * Sets the headers {@link rateLimitHeaders} returns, in the same order, straight on
 * `sink`: the guard's path, which builds no record, list or entry array per request.
 */
export function writeRateLimitHeaders(
  sink: HeaderSink,
  result: RateLimitResult,
  options: HeaderOptions = {},
  template?: HeaderTemplate,
  partitionKey?: string,
): void {
  // Concurrency tiers have no window: the draft fields leave them out (a concurrency
  // rejection still shows in the X-RateLimit-* summary, Retry-After and the body).
  const { tiers } = result;
  let enforced = 0;
  let counted = false;
  for (const tier of tiers) {
    if (tier.shadow) continue;
    counted = true;
    if (tier.kind !== 'concurrency') enforced += 1;
  }
  if (!counted) return;
  if (options.legacy !== false) {
    sink.setHeader('X-RateLimit-Limit', String(result.limit));
    sink.setHeader('X-RateLimit-Remaining', String(result.remaining));
    sink.setHeader('X-RateLimit-Reset', String(resetUnixSeconds(result)));
  }
  if (options.draft === false || enforced === 0) return;
  const { names, policy } =
    template && template.names.length === enforced
      ? template
      : templateOf(tiers.filter((tier) => !tier.shadow && tier.kind !== 'concurrency'));
  const pk = options.partitionKey && partitionKey ? `;pk=${partitionKey}` : '';
  sink.setHeader('RateLimit-Policy', policy);
  let value = '';
  let i = 0;
  for (const tier of tiers) {
    if (tier.shadow || tier.kind === 'concurrency') continue;
    const r = sfInteger(tier.remaining, tier.limit);
    value += `${i === 0 ? '' : ', '}${names[i]};r=${r};t=${effectiveWindowSeconds(tier)}${pk}`;
    i += 1;
  }
  sink.setHeader('RateLimit', value);
}
