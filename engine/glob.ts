/**
 * Go `filepath.Match` semantics for one path segment, as Docker uses for COPY sources:
 * `*` any run of characters, `?` one character, `[abc]`, `[a-z]`, `[^a]`, `\x` a literal x.
 */

const cache = new Map<string, RegExp | null>();

/** True when the segment has wildcard syntax. */
export function hasGlob(segment: string): boolean {
  return /[*?[\\]/.test(segment);
}

/** A RegExp for the segment pattern, or null when the pattern is malformed. */
export function segmentRegExp(pattern: string): RegExp | null {
  const hit = cache.get(pattern);
  if (hit !== undefined) return hit;
  let re = '^';
  let ok = true;
  for (let i = 0; i < pattern.length && ok; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      const n = pattern[++i];
      if (n === undefined) ok = false;
      else re += escapeRe(n);
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) ok = false;
      else {
        let body = pattern.slice(i + 1, end);
        if (body.startsWith('^') || body.startsWith('!')) body = '^' + body.slice(1);
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += escapeRe(c);
  }
  let out: RegExp | null = null;
  if (ok) {
    try {
      out = new RegExp(re + '$', 'u');
    } catch {
      out = null;
    }
  }
  cache.set(pattern, out);
  return out;
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
