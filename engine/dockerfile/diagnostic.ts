/**
 * Building Dockerfile diagnostics. They are printed by engine/errors.ts `formatDiagnostic`,
 * the one formatter users see.
 */
import { isSpace } from './go-text.js';
import type { Diagnostic, Node, Result } from './types.js';

/** Stable codes, so that callers and tests can tell errors apart without parsing messages. */
export type DiagnosticCode =
  | 'DF_DIRECTIVE'
  | 'DF_EMPTY'
  | 'DF_LINE_TOO_LONG'
  | 'DF_JSON'
  | 'DF_ENV'
  | 'DF_HEREDOC'
  | 'DF_UNKNOWN_INSTRUCTION'
  | 'DF_BAD_FLAG'
  | 'DF_ARGS'
  | 'DF_NO_STAGE'
  | 'DF_MOUNT'
  | 'DF_EXPAND';

/** A failed `Result` carrying one diagnostic. */
export function fail<T>(
  code: DiagnosticCode,
  message: string,
  hint: string | undefined,
  at: { file: string; line: number; column: number; length: number },
): Result<T> {
  return { ok: false, error: diagnostic(code, message, hint, at) };
}

/** A diagnostic; line, column and length are clamped to at least 1. */
export function diagnostic(
  code: DiagnosticCode,
  message: string,
  hint: string | undefined,
  at: { file: string; line: number; column: number; length: number },
): Diagnostic {
  const d: Diagnostic = {
    code,
    message,
    file: at.file,
    line: Math.max(1, at.line),
    column: Math.max(1, at.column),
    length: Math.max(1, at.length),
  };
  if (hint !== undefined) d.hint = hint;
  return d;
}

/**
 * The file position of `original[offset]` of a node, through its segments. Falls back to the
 * keyword position when the node carries no segments (nodes built by hand in tests).
 */
export function positionInNode(node: Node, offset: number): { line: number; column: number } {
  const segs = node.segments;
  if (!segs || segs.length === 0) return { line: node.startLine, column: node.column + Math.max(0, offset) };
  let seg = segs[0]!;
  for (const s of segs) {
    if (s.offset <= offset) seg = s;
    else break;
  }
  return { line: seg.line, column: seg.column + Math.max(0, offset - seg.offset) };
}

/**
 * A span of a node's `original` as a diagnostic location. The length is cut at the end of the
 * physical line the span starts on, so that an underline never runs past its line.
 */
export function spanInNode(node: Node, offset: number, length: number): { file: string; line: number; column: number; length: number } {
  const p = positionInNode(node, offset);
  let max = node.original.length - offset;
  for (const s of node.segments ?? []) {
    if (s.offset > offset) {
      max = s.offset - offset;
      break;
    }
  }
  return { file: node.file ?? 'Dockerfile', line: p.line, column: p.column, length: Math.max(1, Math.min(length, max)) };
}

/** The span of the node's keyword. */
export function keywordSpan(node: Node): { file: string; line: number; column: number; length: number } {
  let len = 0;
  const o = node.original;
  let i = 0;
  while (i < o.length && isSpace(o.charCodeAt(i))) i++;
  while (i + len < o.length && !isSpace(o.charCodeAt(i + len))) len++;
  return { file: node.file ?? 'Dockerfile', line: node.startLine, column: node.column, length: Math.max(1, len) };
}

/** Levenshtein distance, for "did you mean" hints (short words only). */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** The closest candidate within distance 2 (case-insensitive), as BuildKit's suggestions. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  if (word.length > 40) return undefined; // nothing that long is a typo of a keyword
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDist = 3;
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestDist) {
      bestDist = d;
      best = c;
    }
  }
  return best;
}
