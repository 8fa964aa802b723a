/**
 * Heredoc markers: finding `<<NAME` words on an instruction line and deciding fd, chomp and
 * expand, as BuildKit does.
 *
 * A marker is a word (as the shell lexer splits the line, quotes and escapes kept) matching
 * `^(\d*)<<(-?)\s*([^<]*)$`. Whether the name was quoted is found by lexing it twice, with and
 * without raw quotes, and comparing the number of quote characters: an escaped quote shows up
 * in both results and cancels out, a quoting quote only in the raw one.
 */
import { processWords } from './shell-lex.js';
import type { Heredoc } from './types.js';

const noEnv = (): undefined => undefined;

// Go's \s is [\t\n\f\r ]. The pattern is linear: no nested quantifiers.
const MARKER = /^([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)$/;

/** The heredoc a single word introduces, or null. Throws nothing; an odd name gives null. */
export function parseHeredocWord(word: string): Omit<Heredoc, 'content'> | null {
  const m = MARKER.exec(word);
  if (!m) return null;
  const fd = m[1] ? Number.parseInt(m[1], 10) : 0;
  const chomp = m[2] === '-';
  const rest = m[3] ?? '';
  if (rest === '') return null;
  const cooked = processWords(rest, noEnv, { escapeToken: '\\', skipUnsetEnv: true });
  if (!cooked.ok || cooked.value.length !== 1) return null;
  const raw = processWords(rest, noEnv, { escapeToken: '\\', skipUnsetEnv: true, rawQuotes: true });
  if (!raw.ok || raw.value.length !== 1) return null;
  const name = cooked.value[0]!;
  return { name, fd: Number.isSafeInteger(fd) ? fd : 0, chomp, expand: countQuotes(name) === countQuotes(raw.value[0]!) };
}

function countQuotes(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x27) n++;
  }
  return n;
}

/**
 * Every heredoc marker of a line, in order. The line is lexed with the escape `\` whatever the
 * escape directive says (as BuildKit does); a line the lexer rejects has no heredocs.
 */
export function heredocsFromLine(line: string): Omit<Heredoc, 'content'>[] {
  const words = processWords(line, noEnv, { escapeToken: '\\', rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });
  if (!words.ok) return [];
  const out: Omit<Heredoc, 'content'>[] = [];
  for (const w of words.value) {
    const h = parseHeredocWord(w);
    if (h) out.push(h);
  }
  return out;
}

/** `<<-`: remove leading tabs from every line of the body. */
export function chompHeredocContent(content: string): string {
  // By hand: JavaScript's multiline `^` also matches after `\r`, Go's only after `\n`.
  let out = '';
  let atStart = true;
  for (let i = 0; i < content.length; i++) {
    const c = content[i]!;
    if (atStart && c === '\t') continue;
    atStart = c === '\n';
    out += c;
  }
  return out;
}
