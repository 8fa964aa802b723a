/**
 * How each instruction's arguments are split into `Node.args` (BuildKit's line parsers).
 *
 * | instructions                      | rule                                                  |
 * |-----------------------------------|-------------------------------------------------------|
 * | RUN, CMD, ENTRYPOINT, SHELL       | JSON array of strings, else the whole rest raw        |
 * | COPY, ADD, VOLUME                 | JSON array of strings, else split on blanks           |
 * | FROM, EXPOSE                      | split on blanks                                       |
 * | ENV, LABEL                        | key, raw value, separator triples                     |
 * | ARG                               | quote-aware words, quotes kept                        |
 * | HEALTHCHECK                       | first word, then like CMD                             |
 * | USER, WORKDIR, STOPSIGNAL, MAINTAINER | the rest as one string                            |
 * | ONBUILD                           | a nested instruction                                  |
 * | anything else                     | one empty argument (checked later)                    |
 *
 * Arguments stay raw: quotes, escapes and `$VAR`s are handled by expansion (expand.ts).
 */
import { goQuote, wellFormed, isByteSpace, isSpace, splitTokenSpace, splitTokenSpace2, trimLeftSpace } from './go-text.js';

/** BuildKit's message for valid JSON that is not an array of strings. */
export const NOT_STRING_ARRAY = 'when using JSON array syntax, arrays must be comprised of strings only';

/** What a line parser produces, or a failure with an offset into the arguments text. */
export type LineParse =
  | { ok: true; args: string[]; json: boolean; subLine?: { text: string; offset: number } }
  | { ok: false; code: 'DF_JSON' | 'DF_ENV'; message: string; hint: string; offset: number; length: number };

type LineParser = (rest: string, escapeToken: string) => LineParse;

const ok = (args: string[], json = false): LineParse => ({ ok: true, args, json });

/** Go's JSON decoder refuses nesting deeper than this; V8's parser would accept it. */
const MAX_JSON_DEPTH = 10000;

function jsonTooDeep(s: string): boolean {
  if (s.length <= MAX_JSON_DEPTH) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_JSON_DEPTH) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * A JSON array of strings (exec form). `invalid` means "not JSON": callers fall back to shell
 * form silently. Valid JSON holding a non-string is a hard error, as in BuildKit.
 */
export function parseJSONArray(rest: string): { kind: 'ok'; values: string[] } | { kind: 'invalid' } | { kind: 'not-strings' } {
  const t = trimLeftSpace(rest);
  if (!t.startsWith('[')) return { kind: 'invalid' };
  let value: unknown;
  try {
    // Like Go's json.Unmarshal: the whole text must be one value (trailing blanks allowed).
    value = JSON.parse(t);
  } catch {
    return { kind: 'invalid' };
  }
  if (!Array.isArray(value) || jsonTooDeep(t)) return { kind: 'invalid' };
  const values: string[] = [];
  for (const v of value) {
    if (typeof v !== 'string') return { kind: 'not-strings' };
    // Go decodes a lone surrogate escape to U+FFFD.
    values.push(wellFormed(v));
  }
  return { kind: 'ok', values };
}

function notStrings(rest: string): LineParse {
  const lead = rest.length - trimLeftSpace(rest).length;
  return {
    ok: false,
    code: 'DF_JSON',
    message: NOT_STRING_ARRAY,
    hint: 'quote every element: ["executable", "arg1", "arg2"]',
    offset: lead,
    length: Math.max(1, rest.length - lead),
  };
}

const parseMaybeJSON: LineParser = (rest) => {
  if (rest === '') return ok([]);
  const j = parseJSONArray(rest);
  if (j.kind === 'ok') return ok(j.values, true);
  if (j.kind === 'not-strings') return notStrings(rest);
  return ok([rest]);
};

const parseStringsWhitespaceDelimited: LineParser = (rest) => (rest === '' ? ok([]) : ok(splitTokenSpace(rest)));

const parseMaybeJSONToList: LineParser = (rest, esc) => {
  const j = parseJSONArray(rest);
  if (j.kind === 'ok') return ok(j.values, true);
  if (j.kind === 'not-strings') return notStrings(rest);
  return parseStringsWhitespaceDelimited(rest, esc);
};

const parseString: LineParser = (rest) => (rest === '' ? ok([]) : ok([rest]));

const parseIgnore: LineParser = () => ok(['']);

/**
 * Words separated by blanks, quotes and escapes kept in the word; an escape at the very end is
 * dropped. Used by ENV, LABEL and ARG. Returns each word with its offset in `rest`.
 */
export function parseWords(rest: string, escapeToken: string): { word: string; offset: number }[] {
  const IN_SPACES = 0;
  const IN_WORD = 1;
  const IN_QUOTE = 2;
  const words: { word: string; offset: number }[] = [];
  let phase = IN_SPACES;
  let word = '';
  let start = 0;
  let quote = '';
  let blankOK = false;
  const chars = Array.from(rest);
  const n = chars.length;
  let offset = 0; // UTF-16 offset of chars[pos]
  for (let pos = 0; pos <= n; pos++) {
    let ch = chars[pos] ?? '';
    if (phase === IN_SPACES) {
      if (pos === n) break;
      if (isSpace(ch.charCodeAt(0))) {
        offset += ch.length;
        continue;
      }
      phase = IN_WORD;
      start = offset;
    }
    if ((phase === IN_WORD || phase === IN_QUOTE) && pos === n) {
      if (blankOK || word.length > 0) words.push({ word, offset: start });
      break;
    }
    if (phase === IN_WORD) {
      if (isSpace(ch.charCodeAt(0))) {
        phase = IN_SPACES;
        if (blankOK || word.length > 0) words.push({ word, offset: start });
        word = '';
        blankOK = false;
        offset += ch.length;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = IN_QUOTE;
      }
      if (ch === escapeToken) {
        if (pos + 1 === n) {
          offset += ch.length;
          continue; // an escape at the end of the line is dropped
        }
        // Unquoted, the escape and the next character are both kept, even a quote.
        word += ch;
        offset += ch.length;
        pos++;
        ch = chars[pos]!;
      }
      word += ch;
      offset += ch.length;
      continue;
    }
    // IN_QUOTE
    if (ch === quote) phase = IN_WORD;
    // Inside '…' the escape is an ordinary character.
    if (ch === escapeToken && quote !== "'") {
      if (pos + 1 === n) {
        phase = IN_WORD;
        offset += ch.length;
        continue;
      }
      word += ch;
      offset += ch.length;
      pos++;
      ch = chars[pos]!;
    }
    word += ch;
    offset += ch.length;
  }
  return words;
}

/** ENV and LABEL: `k=v k2="v 2"` (several triples) or the legacy `k rest of line`. */
function parseNameVal(key: 'ENV' | 'LABEL'): LineParser {
  return (rest, esc) => {
    const words = parseWords(rest, esc);
    const first = words[0];
    if (!first) return ok([]);
    if (!first.word.includes('=')) {
      const parts = splitTokenSpace2(rest);
      const value = parts[1];
      if (value === undefined) {
        return {
          ok: false,
          code: 'DF_ENV',
          message: `${key} must have two arguments`,
          hint: `give ${parts[0]} a value: ${key} ${parts[0]}=value`,
          offset: 0,
          length: Math.max(1, rest.length),
        };
      }
      return ok([parts[0], value, '']);
    }
    const args: string[] = [];
    for (const { word, offset } of words) {
      const eq = word.indexOf('=');
      if (eq < 0) {
        return {
          ok: false,
          code: 'DF_ENV',
          message: `Syntax error - can't find = in ${goQuote(word)}. Must be of the form: name=value`,
          hint: `write ${word}=value, or quote the value if it contains spaces: name="a b"`,
          offset,
          length: Math.max(1, word.length),
        };
      }
      args.push(word.slice(0, eq), word.slice(eq + 1), '=');
    }
    return ok(args);
  };
}

/** ARG: each word as written (`A`, `B=default`, `C="x y"`). */
const parseNameOrNameVal: LineParser = (rest, esc) => ok(parseWords(rest, esc).map((w) => w.word));

/** HEALTHCHECK: the type word (`CMD`, `NONE`, …), then the rest parsed like CMD. */
const parseHealthConfig: LineParser = (rest, esc) => {
  let sep = 0;
  while (sep < rest.length && !isByteSpace(rest.charCodeAt(sep))) sep++;
  let next = sep;
  while (next < rest.length && isByteSpace(rest.charCodeAt(next))) next++;
  if (sep === 0) return ok([]);
  const cmd = parseMaybeJSON(rest.slice(next), esc);
  if (!cmd.ok) return { ...cmd, offset: cmd.offset + next };
  return ok([rest.slice(0, sep), ...cmd.args], cmd.json);
};

/** ONBUILD: the rest is an instruction of its own, parsed by the caller. */
const parseSubCommand: LineParser = (rest) => (rest === '' ? ok([]) : { ok: true, args: [], json: false, subLine: { text: rest, offset: 0 } });

const DISPATCH: Record<string, LineParser> = {
  add: parseMaybeJSONToList,
  arg: parseNameOrNameVal,
  cmd: parseMaybeJSON,
  copy: parseMaybeJSONToList,
  entrypoint: parseMaybeJSON,
  env: parseNameVal('ENV'),
  expose: parseStringsWhitespaceDelimited,
  from: parseStringsWhitespaceDelimited,
  healthcheck: parseHealthConfig,
  label: parseNameVal('LABEL'),
  maintainer: parseString,
  onbuild: parseSubCommand,
  run: parseMaybeJSON,
  shell: parseMaybeJSON,
  stopsignal: parseString,
  user: parseString,
  volume: parseMaybeJSONToList,
  workdir: parseString,
};

/** Split the arguments of instruction `cmd` (lower-case). Unknown keywords get `['']`. */
export function parseLineArgs(cmd: string, rest: string, escapeToken: string): LineParse {
  const fn = Object.hasOwn(DISPATCH, cmd) ? DISPATCH[cmd]! : parseIgnore;
  return fn(rest, escapeToken);
}
