import { ERROR_CODES, messages, type ShieldErrorCode } from '../../core/errors.js';

const STAR = 0x2a; // '*'

/**
 * Compiles an invalidation pattern (system API `endpoint_pattern` / `pattern`,
 * `@InvalidateCache`) into a predicate over route templates or concrete paths.
 *
 * - Without `*`, the pattern matches every text that **contains** it: `models` matches
 *   `/api/v1/models/gpt-4`.
 * - With `*`, the pattern must match the **whole** text and each `*` stands for any run
 *   of characters (empty included): `/api/v1/models/*` matches `/api/v1/models/gpt-4`
 *   and `/api/v1/models/` but neither `/api/v1/models` nor `/api/v1/modelsx`; write
 *   `*models*` for "contains" with wildcards inside.
 * - Every other character is literal (`.`, `?`, `(` ... match themselves); matching is
 *   case-sensitive and compares UTF-16 code units (a lone surrogate is a character of its own).
 *
 * Cost: no regular expression (a regex of many `[\s\S]*` backtracks exponentially on a
 * text that almost matches); one call is O(text length × pattern length) at worst and
 * about linear in practice. Callers taking patterns from users still bound them with
 * `checkPattern`.
 *
 * An empty pattern is contained in every text, so it matches everything: callers that
 * take patterns from users reject it first.
 *
 * @example
 * const match = compilePattern('/api/v1/models/*');
 * match('/api/v1/models/gpt-4'); // true
 */
export function compilePattern(pattern: string): (text: string) => boolean {
  if (!pattern.includes('*')) return (text) => text.includes(pattern);
  // `**` matches what `*` matches; one star per run keeps the backtracking point unique.
  const glob = pattern.replace(/\*+/g, '*');
  return (text) => matchGlob(glob, text);
}

/**
 * Whole-text wildcard match of `glob` (only `*` is special) against `text`: the greedy
 * two-pointer algorithm that, on a mismatch, only ever goes back to the last `*` seen
 * and lets it swallow one more unit. Going back further is never needed: whatever an
 * earlier star could absorb, the last one can absorb too.
 *
 * @internal Exported for the spec; `counter.steps` receives the loop iterations, so a
 * test can bound the work without timing anything.
 */
export function matchGlob(glob: string, text: string, counter?: { steps: number }): boolean {
  let g = 0;
  let t = 0;
  let star = -1; // index in glob of the last star seen
  let resume = 0; // index in text where that star's span currently ends
  let steps = 0;
  while (t < text.length) {
    steps++;
    const unit = g < glob.length ? glob.charCodeAt(g) : -1;
    if (unit === STAR) {
      star = g++;
      resume = t;
    } else if (unit === text.charCodeAt(t)) {
      g++;
      t++;
    } else if (star >= 0) {
      g = star + 1;
      t = ++resume;
    } else {
      if (counter) counter.steps = steps;
      return false;
    }
  }
  while (g < glob.length && glob.charCodeAt(g) === STAR) g++;
  if (counter) counter.steps = steps;
  return g === glob.length;
}

/** Bounds on invalidation patterns (`ResponseCacheModule` options of the same names). */
export interface PatternLimits {
  /** Most characters (Unicode code points) in a pattern. */
  maxPatternLength: number;
  /** Most `*` in a pattern. */
  maxPatternStars: number;
}

/** Which rule an invalidation pattern broke. */
export type InvalidPatternReason = 'empty' | 'maxPatternLength' | 'maxPatternStars';

/**
 * An invalidation pattern is empty or over the module's `maxPatternLength` /
 * `maxPatternStars`. `CacheService.invalidatePattern` and `clearEndpoint` reject with
 * it; the system API answers it with a 400 naming the parameter.
 */
export class InvalidPatternError extends Error {
  /** Always `'InvalidPatternError'`. */
  override readonly name = 'InvalidPatternError';
  /**
   * `'SHIELD_E019'`, or `'SHIELD_E020'` for an `@InvalidateCache` pattern refused at
   * start-up (see the README's error codes).
   */
  readonly code: ShieldErrorCode = ERROR_CODES.invalidPattern;

  /**
   * Creates the error; the library raises it through `checkPattern`.
   *
   * @param reason The rule broken: `empty` or the name of the cap.
   * @param message What is wrong, naming the cap and its value.
   */
  constructor(
    readonly reason: InvalidPatternReason,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Returns `pattern` when it may be used for invalidation, or throws an
 * {@link InvalidPatternError}: an empty pattern would match everything, and the caps
 * bound the matching work per indexed route or path.
 *
 * @example
 * checkPattern('*'.repeat(20), { maxPatternLength: 256, maxPatternStars: 16 });
 * // throws InvalidPatternError: pattern has 20 '*', more than maxPatternStars (16)
 */
export function checkPattern(pattern: string, limits: PatternLimits): string {
  if (pattern.length === 0) throw new InvalidPatternError('empty', messages.invalidPattern('empty'));
  // Code points, as class-validator's MaxLength and the system API's user_id count them;
  // the cheap code-unit length is an upper bound, so most patterns skip the count.
  if (pattern.length > limits.maxPatternLength) {
    const length = codePoints(pattern);
    if (length > limits.maxPatternLength) {
      throw new InvalidPatternError(
        'maxPatternLength',
        messages.invalidPattern('maxPatternLength', length, limits.maxPatternLength),
      );
    }
  }
  let stars = 0;
  for (let i = pattern.indexOf('*'); i !== -1; i = pattern.indexOf('*', i + 1)) stars++;
  if (stars > limits.maxPatternStars) {
    throw new InvalidPatternError(
      'maxPatternStars',
      messages.invalidPattern('maxPatternStars', stars, limits.maxPatternStars),
    );
  }
  return pattern;
}

/** The number of Unicode code points of `text` (a surrogate pair counts once), without copying it. */
function codePoints(text: string): number {
  let pairs = 0;
  for (let i = 0; i < text.length - 1; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        pairs++;
        i++;
      }
    }
  }
  return text.length - pairs;
}
