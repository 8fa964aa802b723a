/**
 * Parser directives (`# syntax=…`, `# escape=…`, `# check=…`): recognised only in the block of
 * comment lines at the very top of the file. The first line that is not a known directive
 * (a blank line, an instruction, an ordinary comment, an unknown key) ends the block for good.
 */
import type { Directive } from './types.js';

const KNOWN = new Set(['syntax', 'escape', 'check']);

// Go's regexp \s: [\t\n\f\r ].
function isGoSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d;
}
function isAlpha(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}
function isAlnum(c: number): boolean {
  return isAlpha(c) || (c >= 0x30 && c <= 0x39);
}

/**
 * `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`, matched by hand: that pattern backtracks
 * quadratically on long runs of blanks, and this is linear. Returns [key, value] or null.
 */
export function matchDirective(line: string): [string, string] | null {
  if (line.charCodeAt(0) !== 0x23) return null;
  let i = 1;
  while (i < line.length && isGoSpace(line.charCodeAt(i))) i++;
  const keyStart = i;
  if (i >= line.length || !isAlpha(line.charCodeAt(i))) return null;
  while (i < line.length && isAlnum(line.charCodeAt(i))) i++;
  const key = line.slice(keyStart, i);
  while (i < line.length && isGoSpace(line.charCodeAt(i))) i++;
  if (line.charCodeAt(i) !== 0x3d) return null;
  i++;
  const wsStart = i;
  while (i < line.length && isGoSpace(line.charCodeAt(i))) i++;
  let end = line.length;
  while (end > i && isGoSpace(line.charCodeAt(end - 1))) end--;
  if (end > i) {
    // `.` does not match \n; lines never hold one here, but keep the rule.
    const value = line.slice(i, end);
    return value.includes('\n') ? null : [key, value];
  }
  // Only blanks after `=`: the lazy `(.+?)` still takes one, the last blank of the run.
  if (i > wsStart) return [key, line.slice(i - 1, i)];
  return null;
}

/** The directive scanner's state, fed one physical line at a time while it is still open. */
export class DirectiveScanner {
  done = false;
  escapeToken = '\\';
  readonly directives: Directive[] = [];
  private readonly seen = new Set<string>();

  /**
   * Look at a line (newline and leading blanks removed). Returns an error message for a
   * repeated directive or a bad escape token, else null.
   */
  feed(line: string, lineNo: number): string | null {
    if (this.done) return null;
    const m = matchDirective(line);
    if (!m) {
      this.done = true;
      return null;
    }
    const name = m[0].toLowerCase();
    if (!KNOWN.has(name)) {
      this.done = true;
      return null;
    }
    if (this.seen.has(name)) return `only one ${name} parser directive can be used`;
    this.seen.add(name);
    if (name === 'escape') {
      if (m[1] !== '`' && m[1] !== '\\') return `invalid escape token '${m[1]}' does not match \` or \\`;
      this.escapeToken = m[1];
    }
    this.directives.push({ name, value: m[1], line: lineNo });
    return null;
  }
}
