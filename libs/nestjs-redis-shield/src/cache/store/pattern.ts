const REGEX_SPECIALS = /[.*+?^${}()|[\]\\/]/g;

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
 *   case-sensitive.
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
  const body = pattern
    .split('*')
    .map((part) => part.replace(REGEX_SPECIALS, '\\$&'))
    .join('[\\s\\S]*');
  const regex = new RegExp(`^${body}$`, 'u');
  return (text) => regex.test(text);
}
