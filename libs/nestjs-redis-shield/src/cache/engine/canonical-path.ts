/** Route parameters as the adapter decoded them: a string, or the segments of an Express 5 wildcard. */
export type RouteParams = Readonly<Record<string, unknown>>;

/**
 * The canonical path of a request: its route template with the parameters the adapter
 * decoded put back in, each percent-encoded the same way (RFC 3986 `pchar`: unreserved
 * characters, sub-delimiters, `:` and `@` stay; everything else, `/` and `%` included, is
 * encoded with upper-case hex).
 *
 * Every spelling the router sends to one handler with the same parameters has the same
 * canonical path: letter case where routing ignores it (`/api/v1/MODELS` on Express),
 * a trailing slash, percent-encoded unreserved characters (`/models/%6D`). So the cache
 * keys and indexes one entry per handler input, and an invalidation pattern written as
 * `/api/v1/models/m` reaches every spelling.
 *
 * Templates follow the adapter's syntax: `:name` (Fastify may add `(regex)` or `?`;
 * Express 5 may quote the name), `*name` (Express 5 wildcard, an array of segments),
 * `*` (Fastify wildcard, a string with slashes), `{...}` (an Express 5 optional group,
 * kept when every parameter in it is set), `\` and `::` escapes.
 *
 * @example
 * canonicalPath('/api/v1/models/:id', { id: 'gpt 4' }); // '/api/v1/models/gpt%204'
 */
export function canonicalPath(template: string, params: RouteParams): string {
  const { text } = fill(template, 0, params, false);
  // A missing optional parameter may leave `//` or a trailing `/` behind.
  const path = text.replace(/\/{2,}/g, '/');
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path || '/';
}

/** Percent-encodes one path segment to its canonical `pchar` form. */
export function encodeSegment(value: string): string {
  return encodeURIComponent(value).replace(/%(24|26|2B|2C|3B|3D|3A|40)/g, (escape) => decodeURIComponent(escape));
}

const NAME_CHAR = /[A-Za-z0-9_$]/;

/**
 * Fills `template` from `start` until the end or the `}` closing a group. `missing`
 * tells whether a parameter of this group was unset (the group is then dropped).
 */
function fill(
  template: string,
  start: number,
  params: RouteParams,
  inGroup: boolean,
): { text: string; end: number; missing: boolean } {
  let text = '';
  let missing = false;
  let i = start;
  while (i < template.length) {
    const char = template[i];
    if (char === '}' && inGroup) return { text, end: i + 1, missing };
    if (char === '\\' && i + 1 < template.length) {
      text += template[i + 1];
      i += 2;
    } else if (char === ':' && template[i + 1] === ':') {
      text += ':';
      i += 2;
    } else if (char === '{') {
      const group = fill(template, i + 1, params, true);
      if (!group.missing) text += group.text;
      i = group.end;
    } else if (char === ':' || char === '*') {
      const [name, next] = readName(template, i + 1);
      if (char === ':' && name === '') {
        text += char;
        i += 1;
        continue;
      }
      i = skipModifiers(template, next);
      const value = params[name === '' ? '*' : name];
      if (value === undefined || value === null) missing = true;
      else text += char === '*' ? wildcard(value) : encodeSegment(String(value));
    } else {
      text += char;
      i += 1;
    }
  }
  return { text, end: i, missing };
}

/** A parameter name (plain or Express 5 `"quoted"`) starting at `at`, and where it ends. */
function readName(template: string, at: number): [name: string, end: number] {
  if (template[at] === '"') {
    const close = template.indexOf('"', at + 1);
    if (close !== -1) return [template.slice(at + 1, close), close + 1];
  }
  let end = at;
  while (end < template.length && NAME_CHAR.test(template[end])) end += 1;
  return [template.slice(at, end), end];
}

/** Skips what may follow a Fastify parameter: a `(regex)` with nested parentheses, then `?`. */
function skipModifiers(template: string, at: number): number {
  let i = at;
  if (template[i] === '(') {
    let depth = 0;
    for (; i < template.length; i++) {
      if (template[i] === '\\') i += 1;
      else if (template[i] === '(') depth += 1;
      else if (template[i] === ')' && --depth === 0) {
        i += 1;
        break;
      }
    }
  }
  return template[i] === '?' ? i + 1 : i;
}

/** A wildcard's value: segments (Express 5 array, or a Fastify string with slashes), each encoded. */
function wildcard(value: unknown): string {
  const segments = Array.isArray(value) ? value.map(String) : String(value).split('/');
  return segments.map(encodeSegment).join('/');
}
