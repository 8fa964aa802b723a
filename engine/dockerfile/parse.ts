/**
 * The Dockerfile parser: text → BuildKit's low-level AST (`Node`s), reproducing
 * `moby/buildkit/frontend/dockerfile/parser` exactly (see the conformance suite in
 * test/fixtures/dockerfile/buildkit-parser and its README for every rule pinned down).
 *
 * Per physical line (split on `\n`; a trailing `\r` is dropped):
 *  1. the first line loses a UTF-8 BOM; while the directive block is open, the line is offered
 *     to the directive scanner (`# escape=`…);
 *  2. a logical line starts at a line that is not blank and not a comment, left-trimmed;
 *  3. while it ends with the escape character (not itself escaped, trailing blanks allowed),
 *     the next lines are appended as they are, minus that escape; comment lines in between are
 *     dropped, blank ones too (with a warning);
 *  4. the logical line is split into keyword, flags and arguments (split-command.ts,
 *     line-parsers.ts);
 *  5. RUN/COPY/ADD (and ONBUILD wrapping one) in shell form read heredoc bodies from the lines
 *     that follow, one heredoc after the other.
 *
 * Everything is a linear scan; there is no regular expression that can backtrack. The result
 * is a value: malformed input gives a `Diagnostic`, never an exception.
 */
import { heredocsFromLine } from './heredoc.js';
import { DirectiveScanner } from './directives.js';
import { diagnostic, fail, positionInNode, type DiagnosticCode } from './diagnostic.js';
import { isSpace } from './go-text.js';
import { parseLineArgs } from './line-parsers.js';
import { splitCommand } from './split-command.js';
import type { Diagnostic, Heredoc, Node, ParsedDockerfile, Result, Segment } from './types.js';

/** bufio.Scanner's limit in BuildKit: a physical line may hold at most this many bytes. */
export const MAX_LINE_BYTES = 65535;

const HEREDOC_INSTRUCTIONS = new Set(['run', 'copy', 'add']);

/** Physical lines, read one at a time, with the newline kept for heredoc bodies. */
class LineReader {
  private pos = 0;
  /** 1-based number of the last line returned. */
  lineNo = 0;
  constructor(private readonly text: string) {}
  /** The next line including its `\n` (if any), or null at the end. */
  next(): string | null {
    if (this.pos >= this.text.length) return null;
    const nl = this.text.indexOf('\n', this.pos);
    const end = nl < 0 ? this.text.length : nl + 1;
    const line = this.text.slice(this.pos, end);
    this.pos = end;
    this.lineNo++;
    return line;
  }
}

/** Go's `bytes.TrimRight(line, "\r\n")`. */
function trimNewline(s: string): string {
  let j = s.length;
  while (j > 0) {
    const c = s.charCodeAt(j - 1);
    if (c !== 0x0a && c !== 0x0d) break;
    j--;
  }
  return j === s.length ? s : s.slice(0, j);
}

function leadingSpaces(s: string): number {
  let i = 0;
  while (i < s.length && isSpace(s.charCodeAt(i))) i++;
  return i;
}

/** A comment line: its first non-blank character is `#`. */
function isComment(s: string): boolean {
  return s.charCodeAt(leadingSpaces(s)) === 0x23;
}

/**
 * Remove a line-continuation escape: the escape as the last non-blank (space/tab) character,
 * not preceded by another escape. `eol` is false when the line continues.
 */
export function trimContinuation(s: string, escape: string): { line: string; eol: boolean } {
  let j = s.length;
  while (j > 0 && (s[j - 1] === ' ' || s[j - 1] === '\t')) j--;
  if (j === 0 || s[j - 1] !== escape) return { line: s, eol: true };
  const k = j - 1;
  if (k === 0) return { line: '', eol: false };
  // An escaped escape (`\\`) at the end is text, not a continuation (BuildKit's regex cannot
  // see a continuation after an escaped escape either: `foo \\\` stays one line).
  if (s[k - 1] === escape) return { line: s, eol: true };
  return { line: s.slice(0, k), eol: false };
}

function utf8Length(s: string): number {
  // Only worth counting when the line could be over the limit at all.
  return s.length * 3 <= MAX_LINE_BYTES ? s.length : Buffer.byteLength(s, 'utf8');
}

interface NodeError {
  code: DiagnosticCode;
  message: string;
  hint: string;
  offset: number;
  length: number;
}

/** Shift segments so that offsets are relative to `original[shift]`. */
function shiftSegments(segments: Segment[], shift: number): Segment[] {
  const out: Segment[] = [];
  for (const s of segments) {
    if (s.offset <= shift) {
      // The piece that contains `shift` starts exactly there in the new coordinates.
      out.length = 0;
      out.push({ offset: 0, line: s.line, column: s.column + (shift - s.offset) });
    } else out.push({ offset: s.offset - shift, line: s.line, column: s.column });
  }
  return out;
}

/**
 * Build a node from a logical line. `segments` map offsets of `line` to file positions.
 * Returns the node, or an error with an offset into `line`.
 */
function nodeFromLine(
  line: string,
  segments: Segment[],
  escapeToken: string,
  file: string,
  startLine: number,
): { ok: true; node: Node } | { ok: false; error: NodeError } {
  const sc = splitCommand(line);
  const parsed = parseLineArgs(sc.cmd, sc.args, escapeToken);
  if (!parsed.ok) {
    return { ok: false, error: { code: parsed.code, message: parsed.message, hint: parsed.hint, offset: sc.argsOffset + parsed.offset, length: parsed.length } };
  }
  const node: Node = {
    cmd: sc.cmd,
    flags: sc.flags,
    args: parsed.args,
    json: parsed.json,
    startLine,
    endLine: startLine,
    column: 1,
    original: line,
    heredocs: [],
    file,
    segments,
    flagOffsets: sc.flagOffsets,
    argsOffset: sc.argsOffset,
  };
  node.column = positionInNode(node, sc.cmdOffset).column;
  if (parsed.subLine) {
    const shift = sc.argsOffset + parsed.subLine.offset;
    const sub = nodeFromLine(parsed.subLine.text, shiftSegments(segments, shift), escapeToken, file, startLine);
    if (!sub.ok) return { ok: false, error: { ...sub.error, offset: sub.error.offset + shift } };
    node.sub = sub.node;
  }
  return { ok: true, node };
}

/** RUN, COPY and ADD in shell form (directly or under ONBUILD) can carry heredocs. */
function canContainHeredoc(node: Node): boolean {
  const n = node.cmd === 'onbuild' && node.sub ? node.sub : node;
  return HEREDOC_INSTRUCTIONS.has(n.cmd) && !n.json;
}

/**
 * Parse a Dockerfile into BuildKit's AST.
 *
 * @param text the file's content (a leading BOM is ignored)
 * @param file the name used in diagnostics and stored on each node
 */
export function parseDockerfile(text: string, file: string): Result<ParsedDockerfile> {
  try {
    return parse(text, file);
  } catch (err) {
    // A bug, not a user error: still a value, naming the file, so a build never crashes here.
    return fail('DF_EMPTY', `internal parser error: ${err instanceof Error ? err.message : String(err)}`, 'please report this Dockerfile', {
      file,
      line: 1,
      column: 1,
      length: 1,
    });
  }
}

function parse(text: string, file: string): Result<ParsedDockerfile> {
  const reader = new LineReader(text);
  const directives = new DirectiveScanner();
  const warnings: { message: string; line: number }[] = [];
  const nodes: Node[] = [];
  let tooLong: Diagnostic | undefined;

  const read = (): string | null => {
    const raw = reader.next();
    if (raw === null) return null;
    const content = raw.endsWith('\n') ? raw.slice(0, -1) : raw;
    if (content.length > MAX_LINE_BYTES / 3 && utf8Length(content) > MAX_LINE_BYTES) {
      tooLong = diagnostic('DF_LINE_TOO_LONG', `dockerfile line greater than max allowed size of ${MAX_LINE_BYTES}`, 'split the line with a line continuation (\\ at the end of a line)', {
        file,
        line: reader.lineNo,
        column: 1,
        length: 1,
      });
      return null;
    }
    return raw;
  };

  for (;;) {
    let raw = read();
    if (raw === null) break;
    const physical = reader.lineNo;
    // The BOM is stripped from the first line only.
    if (physical === 1 && raw.charCodeAt(0) === 0xfeff) raw = raw.slice(1);
    let token = trimNewline(raw);
    const lead = leadingSpaces(token);
    token = token.slice(lead);
    const dErr = directives.feed(token, physical);
    if (dErr) {
      return fail('DF_DIRECTIVE', dErr, dErr.startsWith('only one') ? 'remove the repeated directive' : 'use # escape=\\ or # escape=`', {
        file,
        line: physical,
        column: lead + 1,
        length: token.length,
      });
    }
    if (isComment(token)) token = '';
    const escape = directives.escapeToken;
    const first = trimContinuation(token, escape);
    let line = first.line;
    let eol = first.eol;
    if (eol && line === '') continue;

    const startLine = physical;
    let endLine = physical;
    const segments: Segment[] = [{ offset: 0, line: startLine, column: lead + 1 }];
    let hasEmptyContinuation = false;
    while (!eol) {
      const nextRaw = read();
      if (nextRaw === null) break;
      endLine = reader.lineNo;
      const tok = trimNewline(nextRaw);
      if (isComment(tok)) continue;
      if (leadingSpaces(tok) === tok.length) {
        hasEmptyContinuation = true;
        continue;
      }
      const t = trimContinuation(tok, escape);
      eol = t.eol;
      segments.push({ offset: line.length, line: endLine, column: 1 });
      line += t.line;
    }
    if (tooLong) return { ok: false, error: tooLong };
    if (hasEmptyContinuation) warnings.push({ message: `Empty continuation line found in: ${line}`, line: endLine });

    const built = nodeFromLine(line, segments, escape, file, startLine);
    if (!built.ok) {
      const probe: Node = { cmd: '', flags: [], args: [], json: false, startLine, endLine, column: lead + 1, original: line, heredocs: [], segments };
      const p = positionInNode(probe, built.error.offset);
      return fail(built.error.code, built.error.message, built.error.hint, { file, line: p.line, column: p.column, length: built.error.length });
    }
    const node = built.node;

    if (canContainHeredoc(node) && line.includes('<<')) {
      let searchFrom = 0;
      for (const h of heredocsFromLine(line)) {
        const markerAt = line.indexOf('<<', searchFrom);
        searchFrom = markerAt < 0 ? searchFrom : markerAt + 2;
        let content = '';
        let terminated = false;
        for (;;) {
          const body = read();
          if (body === null) break;
          endLine = reader.lineNo;
          let candidate = trimNewline(body);
          if (h.chomp) {
            let k = 0;
            while (candidate.charCodeAt(k) === 0x09) k++;
            candidate = candidate.slice(k);
          }
          if (candidate === h.name) {
            terminated = true;
            break;
          }
          content += body;
        }
        if (tooLong) return { ok: false, error: tooLong };
        if (!terminated) {
          const p = positionInNode(node, Math.max(0, markerAt));
          return fail('DF_HEREDOC', 'unterminated heredoc', `end the heredoc with a line holding only ${JSON.stringify(h.name)}`, {
            file,
            line: p.line,
            column: p.column,
            length: 2 + h.name.length,
          });
        }
        const doc: Heredoc = { name: h.name, fd: h.fd, expand: h.expand, chomp: h.chomp, content };
        node.heredocs.push(doc);
      }
    }
    node.endLine = endLine;
    if (node.sub) node.sub.endLine = endLine;
    nodes.push(node);
  }
  if (tooLong) return { ok: false, error: tooLong };

  if (nodes.length === 0) {
    return fail('DF_EMPTY', 'file with no instructions', 'a Dockerfile needs at least a FROM instruction', {
      file,
      line: Math.max(1, reader.lineNo),
      column: 1,
      length: 1,
    });
  }
  return {
    ok: true,
    value: { file, escapeToken: directives.escapeToken, directives: directives.directives, warnings, nodes },
  };
}
