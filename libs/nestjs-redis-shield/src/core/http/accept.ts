/** One media range of an `Accept` header: type, subtype and its weight. */
interface MediaRange {
  type: string;
  subtype: string;
  q: number;
}

/** Longest `Accept` header read; anything beyond is ignored (a hostile header costs nothing). */
const MAX_ACCEPT_LENGTH = 2048;

/** The media ranges of an `Accept` header, lower-case, with their `q` (default 1, malformed 0). */
function mediaRanges(accept: string): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const part of accept.slice(0, MAX_ACCEPT_LENGTH).split(',')) {
    const [range = '', ...params] = part.split(';');
    const [type, subtype] = range.trim().toLowerCase().split('/');
    if (!type || !subtype) continue;
    let q = 1;
    for (const param of params) {
      const [name, value] = param.split('=').map((piece) => piece.trim());
      if (name?.toLowerCase() === 'q') q = /^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(value ?? '') ? Number(value) : 0;
    }
    ranges.push({ type, subtype, q });
  }
  return ranges;
}

/**
 * The weight `accept` gives a media type, from its most specific matching range (exact,
 * then `type/*`, then `*\/*`; RFC 9110 §12.5.1), and whether that range named it exactly.
 */
function weightOf(ranges: MediaRange[], mediaType: string): { q: number; exact: boolean } {
  const [type, subtype] = mediaType.split('/');
  let best: { q: number; specificity: number } = { q: 0, specificity: -1 };
  for (const range of ranges) {
    const specificity =
      range.type === type && range.subtype === subtype
        ? 2
        : range.type === type && range.subtype === '*'
          ? 1
          : range.type === '*' && range.subtype === '*'
            ? 0
            : -1;
    if (specificity > best.specificity) best = { q: range.q, specificity };
  }
  return { q: best.q, exact: best.specificity === 2 };
}

/**
 * Whether a request's `Accept` prefers `preferred` to `usual`: it names `preferred`
 * exactly with a weight above 0, and gives `usual` a lower weight, or the same weight only
 * through a wildcard (`application/problem+json, *\/*`). Without an `Accept`, or when
 * both are named with one weight, the usual type is kept.
 */
export function prefersMediaType(accept: string | undefined, preferred: string, usual: string): boolean {
  if (!accept) return false;
  const ranges = mediaRanges(accept);
  const wanted = weightOf(ranges, preferred);
  if (!wanted.exact || wanted.q <= 0) return false;
  const other = weightOf(ranges, usual);
  return wanted.q > other.q || (wanted.q === other.q && !other.exact);
}
