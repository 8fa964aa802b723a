/**
 * Splitting a logical line into keyword, flags and the rest, as BuildKit's `splitCommand` and
 * `extractBuilderFlags` do. Flags are the `--…` words right after the keyword, shell-unquoted
 * (`--chown="a b"` → `--chown=a b`); a bare `--` ends them and is dropped. This runs for every
 * instruction, known or not; whether a flag is allowed is decided later (instructions.ts).
 *
 * Offsets are kept so that diagnostics can point at a flag or an argument.
 */
import { isByteSpace, splitTokenSpace2, trimSpace, isSpace } from './go-text.js';

/** A logical line split into keyword, flags and arguments, with offsets into the line. */
export interface SplitCommand {
  /** Keyword, lower-cased. */
  cmd: string;
  flags: string[];
  /** Offset in the line of each flag word. */
  flagOffsets: number[];
  /** Arguments after the flags, trimmed. */
  args: string;
  /** Offset in the line where `args` starts. */
  argsOffset: number;
  /** Offset in the line of the keyword, and its length. */
  cmdOffset: number;
  cmdLength: number;
}

/** Split a logical line. Never fails. */
export function splitCommand(line: string): SplitCommand {
  let lead = 0;
  while (lead < line.length && isSpace(line.charCodeAt(lead))) lead++;
  const trimmed = trimSpace(line);
  const parts = splitTokenSpace2(trimmed);
  const cmdWord = parts[0];
  const out: SplitCommand = {
    cmd: cmdWord.toLowerCase(),
    flags: [],
    flagOffsets: [],
    args: '',
    argsOffset: lead + trimmed.length,
    cmdOffset: lead,
    cmdLength: cmdWord.length,
  };
  if (parts.length === 2) {
    const restOffset = lead + trimmed.length - parts[1].length;
    const f = extractBuilderFlags(parts[1]);
    out.flags = f.flags;
    out.flagOffsets = f.offsets.map((o) => o + restOffset);
    let start = f.restStart;
    const rest = parts[1].slice(start);
    const args = trimSpace(rest);
    // trimSpace may also have removed leading blanks of `rest`.
    let k = 0;
    while (k < rest.length && isSpace(rest.charCodeAt(k))) k++;
    start += k;
    out.args = args;
    out.argsOffset = args === '' ? lead + trimmed.length : restOffset + start;
  }
  return out;
}

/**
 * BuildKit's flag scanner. It works byte by byte in Go; here character by character with
 * ASCII blanks (see `isByteSpace`), which only differs for non-ASCII blanks inside flags.
 */
export function extractBuilderFlags(line: string): { flags: string[]; offsets: number[]; restStart: number } {
  const IN_SPACES = 0;
  const IN_WORD = 1;
  const IN_QUOTE = 2;
  const flags: string[] = [];
  const offsets: number[] = [];
  let phase = IN_SPACES;
  let word = '';
  let wordStart = 0;
  let quote = '';
  let blankOK = false;
  const n = line.length;
  for (let pos = 0; pos <= n; pos++) {
    const ch = pos < n ? line[pos]! : '';
    if (phase === IN_SPACES) {
      if (pos === n) break;
      if (isByteSpace(ch.charCodeAt(0))) continue;
      // Only a word starting with "--" continues the flags.
      if (ch !== '-' || pos + 1 === n || line[pos + 1] !== '-') return { flags, offsets, restStart: pos };
      phase = IN_WORD;
      wordStart = pos;
    }
    if ((phase === IN_WORD || phase === IN_QUOTE) && pos === n) {
      if (word !== '--' && (blankOK || word.length > 0)) {
        flags.push(word);
        offsets.push(wordStart);
      }
      break;
    }
    if (phase === IN_WORD) {
      if (isByteSpace(ch.charCodeAt(0))) {
        phase = IN_SPACES;
        if (word === '--') return { flags, offsets, restStart: pos };
        if (blankOK || word.length > 0) {
          flags.push(word);
          offsets.push(wordStart);
        }
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = IN_QUOTE;
        continue;
      }
      if (ch === '\\') {
        if (pos + 1 === n) continue; // a trailing backslash is dropped
        pos++;
        word += line[pos]!;
        continue;
      }
      word += ch;
      continue;
    }
    // IN_QUOTE
    if (ch === quote) {
      phase = IN_WORD;
      continue;
    }
    if (ch === '\\') {
      if (pos + 1 === n) {
        phase = IN_WORD;
        continue;
      }
      pos++;
      word += line[pos]!;
      continue;
    }
    word += ch;
  }
  return { flags, offsets, restStart: n };
}
