/**
 * The few Go text primitives BuildKit's parser leans on, reproduced exactly: `unicode.IsSpace`,
 * `strings.TrimSpace`, the `[\t\v\f\r ]+` splitter, and `strconv.Quote` (the dump format).
 *
 * JavaScript's `\s` is not Go's `unicode.IsSpace` (JS includes U+FEFF, excludes U+0085), so
 * nothing here uses `\s`.
 */

/** Go's `unicode.IsSpace` for one UTF-16 code unit (every White_Space character is in the BMP). */
export function isSpace(c: number): boolean {
  if (c <= 0xff) return c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0x85 || c === 0xa0;
  return (
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

/**
 * ASCII whitespace as seen by BuildKit's byte-wise loops (`unicode.IsSpace(rune(line[i]))`).
 * Go also treats the bytes 0x85 and 0xA0 as spaces there, even inside a multi-byte UTF-8
 * character; we work on characters and deliberately do not reproduce that bug.
 */
export function isByteSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/** One of `[\t\v\f\r ]`, the class of BuildKit's `reWhitespace` (no `\n`). */
export function isTokenSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0b || c === 0x0c || c === 0x0d;
}

/** Go's `strings.TrimLeftFunc(s, unicode.IsSpace)`. */
export function trimLeftSpace(s: string): string {
  let i = 0;
  while (i < s.length && isSpace(s.charCodeAt(i))) i++;
  return i === 0 ? s : s.slice(i);
}

/** Go's `strings.TrimSpace`. */
export function trimSpace(s: string): string {
  let i = 0;
  let j = s.length;
  while (i < j && isSpace(s.charCodeAt(i))) i++;
  while (j > i && isSpace(s.charCodeAt(j - 1))) j--;
  return i === 0 && j === s.length ? s : s.slice(i, j);
}

/** `regexp.MustCompile("[\t\v\f\r ]+").Split(s, -1)`: a linear scan, no regex. */
export function splitTokenSpace(s: string): string[] {
  const out: string[] = [];
  let start = 0;
  let i = 0;
  while (i < s.length) {
    if (isTokenSpace(s.charCodeAt(i))) {
      out.push(s.slice(start, i));
      while (i < s.length && isTokenSpace(s.charCodeAt(i))) i++;
      start = i;
    } else i++;
  }
  out.push(s.slice(start));
  return out;
}

/** `Split(s, 2)` with the same splitter: the first token and everything after its separator. */
export function splitTokenSpace2(s: string): [string] | [string, string] {
  for (let i = 0; i < s.length; i++) {
    if (isTokenSpace(s.charCodeAt(i))) {
      let j = i;
      while (j < s.length && isTokenSpace(s.charCodeAt(j))) j++;
      return [s.slice(0, i), s.slice(j)];
    }
  }
  return [s];
}

// Go's unicode.IsPrint: categories L, M, N, P, S, plus the ASCII space.
const PRINTABLE = /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u;

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/**
 * Go's `strconv.Quote`: `"` and `\` escaped, `\a\b\f\n\r\t\v` by name, other non-printable
 * characters as `\xNN`, `\uNNNN` or `\UNNNNNNNN`, printable Unicode as is. A lone surrogate
 * (impossible in Go strings) is printed as U+FFFD, which is what Go's decoders produce.
 */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    switch (cp) {
      case 0x22:
        out += '\\"';
        continue;
      case 0x5c:
        out += '\\\\';
        continue;
      case 0x07:
        out += '\\a';
        continue;
      case 0x08:
        out += '\\b';
        continue;
      case 0x0c:
        out += '\\f';
        continue;
      case 0x0a:
        out += '\\n';
        continue;
      case 0x0d:
        out += '\\r';
        continue;
      case 0x09:
        out += '\\t';
        continue;
      case 0x0b:
        out += '\\v';
        continue;
    }
    if (cp >= 0xd800 && cp <= 0xdfff) {
      out += '\ufffd';
    } else if (cp === 0x20 || (cp >= 0x21 && cp < 0x7f)) {
      out += ch;
    } else if (cp < 0x20 || cp === 0x7f) {
      out += '\\x' + hex(cp, 2);
    } else if (PRINTABLE.test(ch)) {
      out += ch;
    } else if (cp < 0x10000) {
      out += '\\u' + hex(cp, 4);
    } else {
      out += '\\U' + hex(cp, 8);
    }
  }
  return out + '"';
}

/** Go's `unicode.IsLetter` for one code point string. */
export function isLetter(ch: string): boolean {
  return LETTER.test(ch);
}
/** Go's `unicode.IsDigit` (category Nd) for one code point string. */
export function isDigit(ch: string): boolean {
  return DIGIT.test(ch);
}
const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Lone surrogates replaced by U+FFFD (`String.prototype.toWellFormed`, not in our lib target). */
export function wellFormed(s: string): string {
  return s.replace(LONE_SURROGATE, '\ufffd');
}
