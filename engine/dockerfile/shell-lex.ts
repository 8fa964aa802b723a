/**
 * BuildKit's shell lexer (`frontend/dockerfile/shell`), reimplemented: quote removal, escapes,
 * `$VAR`/`${VAR…}` expansion, and word splitting on unquoted whitespace.
 *
 * It is used in three ways, each with its own options, exactly as BuildKit does:
 *  - instruction expansion (`expandWord`/`expandWords`): defaults;
 *  - heredoc detection in the parser: `rawQuotes`, `rawEscapes`, `skipUnsetEnv`, escape `\`;
 *  - COPY/ADD heredoc bodies: `skipProcessQuotes`, escape `\`.
 *
 * The scanner walks code points. Errors are thrown as `LexError` inside this module only and
 * turned into values by `processWord`/`processWords`; nothing escapes to callers.
 */
import { isDigit, isLetter, isSpace } from './go-text.js';

/** Looks a variable up; `undefined` means unset (which differs from empty for `${a-x}`). */
export type Lookup = (name: string) => string | undefined;

/** BuildKit's `Lex` switches; all off by default, escape `\`. */
export interface LexOptions {
  escapeToken?: string;
  /** Keep quote characters in the output. */
  rawQuotes?: boolean;
  /** Keep escape characters in the output. */
  rawEscapes?: boolean;
  /** Quotes are ordinary characters. */
  skipProcessQuotes?: boolean;
  /** Leave references to unset variables as written. */
  skipUnsetEnv?: boolean;
}

class LexError extends Error {}

const EOF = '';

class Words {
  private buf = '';
  private inWord = false;
  readonly words: string[] = [];
  addChar(ch: string): void {
    const space = isSpace(ch.charCodeAt(0));
    if (space && this.inWord) {
      // An empty buffer with inWord set (after '') does not end the word: BuildKit quirk.
      if (this.buf.length !== 0) {
        this.words.push(this.buf);
        this.buf = '';
        this.inWord = false;
      }
    } else if (!space) {
      this.addRawChar(ch);
    }
  }
  addRawChar(ch: string): void {
    this.buf += ch;
    this.inWord = true;
  }
  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }
  addRawString(s: string): void {
    this.buf += s;
    this.inWord = true;
  }
  getWords(): string[] {
    if (this.buf.length > 0) {
      this.words.push(this.buf);
      this.buf = '';
      this.inWord = false;
    }
    return this.words;
  }
}

class ShellWord {
  private readonly chars: string[];
  private pos = 0;
  private rawEscapes: boolean;
  private readonly escape: string;

  constructor(
    source: string,
    private readonly lookup: Lookup,
    private readonly opts: LexOptions,
  ) {
    this.chars = Array.from(source);
    this.rawEscapes = opts.rawEscapes ?? false;
    this.escape = opts.escapeToken ?? '\\';
  }

  private peek(): string {
    return this.chars[this.pos] ?? EOF;
  }
  private next(): string {
    const ch = this.chars[this.pos];
    if (ch === undefined) return EOF;
    this.pos++;
    return ch;
  }

  run(): { result: string; words: string[] } {
    return this.processStopOn(EOF, this.rawEscapes);
  }

  private processStopOn(stop: string, rawEscapes: boolean): { result: string; words: string[] } {
    let result = '';
    const words = new Words();
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      while (this.peek() !== EOF) {
        let ch = this.peek();
        if (stop !== EOF && ch === stop) {
          this.next();
          return { result, words: words.getWords() };
        }
        if (ch === '$') {
          const tmp = this.processDollar();
          result += tmp;
          words.addString(tmp);
          continue;
        }
        if (ch === '<') {
          const tmp = this.processPossibleHeredoc();
          result += tmp;
          words.addRawString(tmp);
          continue;
        }
        if (!this.opts.skipProcessQuotes && (ch === "'" || ch === '"')) {
          const tmp = ch === "'" ? this.processSingleQuote() : this.processDoubleQuote();
          result += tmp;
          words.addRawString(tmp);
          continue;
        }
        ch = this.next();
        if (ch === this.escape) {
          if (this.rawEscapes) {
            words.addRawChar(ch);
            result += ch;
          }
          // An escape escapes the next character, except at the end of the word.
          ch = this.next();
          if (ch === EOF) break;
          words.addRawChar(ch);
        } else {
          words.addChar(ch);
        }
        result += ch;
      }
      if (stop !== EOF) throw new LexError(`unexpected end of statement while looking for matching ${stop}`);
      return { result, words: words.getWords() };
    } finally {
      this.rawEscapes = saved;
    }
  }

  private processSingleQuote(): string {
    // Everything up to the next ' is literal; a ' cannot be escaped inside.
    let result = '';
    let ch = this.next();
    if (this.opts.rawQuotes) result += ch;
    for (;;) {
      ch = this.next();
      if (ch === EOF) throw new LexError('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") {
        if (this.opts.rawQuotes) result += ch;
        return result;
      }
      result += ch;
    }
  }

  private processDoubleQuote(): string {
    // Literal except $ (expanded) and the escape, which escapes only ", $ and itself.
    let result = '';
    const open = this.next();
    if (this.opts.rawQuotes) result += open;
    for (;;) {
      const p = this.peek();
      if (p === EOF) throw new LexError('unexpected end of statement while looking for matching double-quote');
      if (p === '"') {
        const close = this.next();
        if (this.opts.rawQuotes) result += close;
        return result;
      }
      if (p === '$') {
        result += this.processDollar();
        continue;
      }
      let ch = this.next();
      if (ch === this.escape) {
        if (this.rawEscapes) result += ch;
        const q = this.peek();
        if (q === EOF) continue;
        if (q === '"' || q === '$' || q === this.escape) ch = this.next();
      }
      result += ch;
    }
  }

  private processPossibleHeredoc(): string {
    // `<<` swallows the blanks after it so that `<<  EOF` stays one word.
    this.next();
    if (this.peek() !== '<') return '<';
    this.next();
    let space = '';
    for (let c = this.peek(); c === ' ' || c === '\t' || c === '\r' || c === '\n'; c = this.peek()) {
      space += this.next();
    }
    return '<<' + space;
  }

  private get(name: string): string | undefined {
    return this.lookup(name);
  }

  private processDollar(): string {
    this.next();
    if (this.peek() !== '{') {
      const name = this.processName();
      if (name === '') return '$';
      const value = this.get(name);
      if (value === undefined && this.opts.skipUnsetEnv) return '$' + name;
      return value ?? '';
    }
    this.next();
    const first = this.peek();
    if (first === EOF) throw new LexError("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new LexError('syntax error: bad substitution');
    const name = this.processName();
    let ch = this.next();
    let chs = ch;
    let nullIsUnset = false;
    if (ch === '}') {
      const value = this.get(name);
      if (value === undefined && this.opts.skipUnsetEnv) return '${' + name + '}';
      return value ?? '';
    }
    if (ch === EOF) throw new LexError("syntax error: missing '}'");
    if (ch === ':') {
      nullIsUnset = true;
      ch = this.next();
      chs += ch;
    }
    if (nullIsUnset || ch === '+' || ch === '-' || ch === '?' || ch === '#' || ch === '%') {
      const raw = ch === '#' || ch === '%';
      if (nullIsUnset && raw) throw new LexError(`unsupported modifier (${chs}) in substitution`);
      let word: string;
      try {
        word = this.processStopOn('}', raw).result;
      } catch (err) {
        if (this.peek() === EOF) throw new LexError("syntax error: missing '}'");
        throw err;
      }
      const value = this.get(name);
      if (this.opts.skipUnsetEnv && value === undefined) return '${' + name + chs + word + '}';
      const unsetOrNull = value === undefined || (nullIsUnset && value === '');
      switch (ch) {
        case '-':
          return unsetOrNull ? word : (value ?? '');
        case '+':
          return unsetOrNull ? '' : word;
        case '?':
          if (value === undefined) throw new LexError(`${name}: ${word !== '' ? word : 'is not allowed to be unset'}`);
          if (nullIsUnset && value === '') throw new LexError(`${name}: ${word !== '' ? word : 'is not allowed to be empty'}`);
          return value;
        case '%':
        case '#': {
          // %/# remove the shortest match, %%/## the longest.
          let pattern = word;
          let greedy = false;
          if (pattern.startsWith(ch)) {
            greedy = true;
            pattern = pattern.slice(1);
          }
          return ch === '%' ? trimSuffix(pattern, value ?? '', greedy) : trimPrefix(pattern, value ?? '', greedy);
        }
        default:
          throw new LexError(`unsupported modifier (${chs}) in substitution`);
      }
    }
    if (ch === '/') {
      const replaceAll = this.peek() === '/';
      if (replaceAll) this.next();
      let pattern: string;
      let replacement: string;
      try {
        pattern = this.processStopOn('/', true).result;
      } catch (err) {
        if (this.peek() === EOF) throw new LexError("syntax error: missing '/' in ${}");
        throw err;
      }
      try {
        replacement = this.processStopOn('}', true).result;
      } catch (err) {
        if (this.peek() === EOF) throw new LexError("syntax error: missing '}'");
        throw err;
      }
      const value = this.get(name);
      if (this.opts.skipUnsetEnv && value === undefined) return '${' + name + '/' + pattern + '/' + replacement + '}';
      const re = patternToRegExp(pattern, true, false);
      return replaceAll ? goReplaceAll(value ?? '', re, replacement) : replaceFirst(value ?? '', re, replacement);
    }
    throw new LexError(`unsupported modifier (${chs}) in substitution`);
  }

  private processName(): string {
    // Letters, digits and _; a leading digit run or one special parameter is a name by itself.
    let name = '';
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (name === '' && isDigit(ch)) {
        while (this.peek() !== EOF && isDigit(this.peek())) name += this.next();
        return name;
      }
      if (name === '' && '@*#?-$!0'.includes(ch)) return this.next();
      if (!isLetter(ch) && !isDigit(ch) && ch !== '_') break;
      name += this.next();
    }
    return name;
  }
}

/**
 * A shell pattern (`*`, `?`, `\` escapes; no brackets) as a RegExp. `.` is written `[^\n]`
 * because Go's `.` excludes only `\n` while JavaScript's also excludes `\r`, U+2028, U+2029.
 */
function patternToRegExp(pattern: string, greedy: boolean, anchored: boolean): RegExp {
  const chars = Array.from(pattern);
  let out = anchored ? '^' : '';
  const star = greedy ? '[^\\n]*' : '[^\\n]*?';
  for (let i = 0; i < chars.length; i++) {
    const tok = chars[i]!;
    if (tok === '*') {
      out += star;
      continue;
    }
    if (tok === '?') {
      out += '[^\\n]';
      continue;
    }
    if (tok === '\\') {
      const nextCh = chars[i + 1];
      // `\}` and `\/` only protect the ${} syntax; the escape is not part of the pattern.
      if (nextCh === '}' || nextCh === '/') continue;
      i++;
      if (nextCh !== '*' && nextCh !== '?' && nextCh !== '\\') {
        throw new LexError(`invalid pattern (${pattern}) in substitution: invalid escape '\\${nextCh ?? ''}'`);
      }
      out += '\\' + nextCh;
      continue;
    }
    if ('[]{}.+()|^$'.includes(tok)) out += '\\' + tok;
    else if (tok === '/') out += '\\/';
    else out += tok;
  }
  return new RegExp(out, 'gu');
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const re = patternToRegExp(pattern, greedy, true);
  re.lastIndex = 0;
  const m = re.exec(value);
  return m ? value.slice(m.index + m[0].length) : value;
}

/** Reverse a pattern without reversing its escapes (`a\*c` → `c\*a`). */
function reversePattern(pattern: string): string {
  const p = Array.from(pattern);
  const out: string[] = new Array<string>(p.length);
  const last = p.length - 1;
  for (let i = 0; i <= last; ) {
    const tok = p[i]!;
    const o = last - i;
    if (tok === '\\' && i !== last) {
      out[o - 1] = tok;
      out[o] = p[i + 1]!;
      i += 2;
    } else {
      out[o] = tok;
      i++;
    }
  }
  return out.join('');
}

function reverse(s: string): string {
  return Array.from(s).reverse().join('');
}

/** The shortest/longest rightmost match, found as a leftmost match on the reversed strings. */
function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  return reverse(trimPrefix(reversePattern(pattern), reverse(value), greedy));
}

function replaceFirst(value: string, re: RegExp, replacement: string): string {
  re.lastIndex = 0;
  const m = re.exec(value);
  if (!m) return value;
  return value.slice(0, m.index) + replacement + value.slice(m.index + m[0].length);
}

/**
 * Go's `Regexp.ReplaceAllString`: an empty match right after a previous match is skipped
 * (JavaScript's `replace` keeps it), and the replacement is a template where `$0`/`${0}` is the
 * match, `$$` is `$`, and other names (there are no groups) are empty.
 */
function goReplaceAll(value: string, re: RegExp, template: string): string {
  let out = '';
  let last = 0;
  let prevEnd = -1;
  re.lastIndex = 0;
  for (;;) {
    if (re.lastIndex > value.length) break;
    const m = re.exec(value);
    if (!m) break;
    const start = m.index;
    const end = start + m[0].length;
    if (end === start) {
      // Advance past one code point so the loop ends.
      const cp = value.codePointAt(start);
      re.lastIndex = start + (cp !== undefined && cp > 0xffff ? 2 : 1);
      if (start === prevEnd) continue;
    }
    out += value.slice(last, start) + expandTemplate(template, m[0]);
    last = end;
    prevEnd = end;
  }
  return out + value.slice(last);
}

function isNameChar(c: string): boolean {
  return /^[A-Za-z0-9_]$/.test(c);
}

function expandTemplate(t: string, match: string): string {
  let out = '';
  let i = 0;
  while (i < t.length) {
    const j = t.indexOf('$', i);
    if (j < 0) {
      out += t.slice(i);
      break;
    }
    out += t.slice(i, j);
    i = j + 1;
    if (t[i] === '$') {
      out += '$';
      i++;
      continue;
    }
    let name = '';
    let end = i;
    if (t[i] === '{') {
      const k = t.indexOf('}', i + 1);
      name = k < 0 ? '' : t.slice(i + 1, k);
      if (k < 0 || name === '' || ![...name].every(isNameChar)) {
        out += '$';
        continue;
      }
      end = k + 1;
    } else {
      while (end < t.length && isNameChar(t[end]!)) end++;
      name = t.slice(i, end);
      if (name === '') {
        out += '$';
        continue;
      }
    }
    i = end;
    if (/^[0-9]+$/.test(name) && Number(name) === 0) out += match;
  }
  return out;
}

/** Expand one word (BuildKit's `ProcessWord`). */
export function processWord(word: string, lookup: Lookup, opts: LexOptions = {}): { ok: true; value: string } | { ok: false; message: string } {
  try {
    return { ok: true, value: new ShellWord(word, lookup, opts).run().result };
  } catch (err) {
    return { ok: false, message: failure(word, err) };
  }
}

/** Expand and split on unquoted whitespace (BuildKit's `ProcessWords`). */
export function processWords(word: string, lookup: Lookup, opts: LexOptions = {}): { ok: true; value: string[] } | { ok: false; message: string } {
  try {
    return { ok: true, value: new ShellWord(word, lookup, opts).run().words };
  } catch (err) {
    return { ok: false, message: failure(word, err) };
  }
}

function failure(word: string, err: unknown): string {
  // A RegExp SyntaxError cannot happen (every special character is escaped), but a bug must
  // still become a value, never an exception that escapes the parser.
  const msg = err instanceof Error ? err.message : String(err);
  return `failed to process ${JSON.stringify(word)}: ${msg}`;
}
