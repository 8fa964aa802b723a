/**
 * User-facing errors as data: a code, a message, where (a Dockerfile diagnostic or a path),
 * a hint, and the exit code the CLI should use. Never a stack trace for these.
 */
import type { Diagnostic } from './dockerfile/types.js';
import { StoreError } from '../cache/store-types.js';
import { ContextError } from './context.js';
import { CopyError } from './copy.js';

/** Exit codes (DESIGN.md): 0 success, 1 a step failed, 2 bad usage or Dockerfile, 3 store or I/O. */
export const EXIT = { ok: 0, stepFailed: 1, usage: 2, io: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class UserError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint: string | undefined,
    readonly exitCode: ExitCode,
    readonly diagnostic?: Diagnostic,
    /** A path the error is about, when it is not a Dockerfile position. */
    readonly path?: string,
  ) {
    super(message);
    this.name = 'UserError';
  }

  static fromDiagnostic(d: Diagnostic): UserError {
    return new UserError(d.code, d.message, d.hint, EXIT.usage, d);
  }
}

/** Render a diagnostic as `file:line:col: message`, the source line, a caret underline, and the hint. */
export function formatDiagnostic(d: Diagnostic, source: string | undefined): string {
  const lines = [`${d.file}:${d.line}:${d.column}: error: ${d.message}`];
  const text = source?.split(/\r?\n/)[d.line - 1];
  if (text !== undefined) {
    const gutter = `${d.line} | `;
    lines.push(`${gutter}${text}`);
    lines.push(`${' '.repeat(gutter.length - 2)}| ${' '.repeat(Math.max(0, d.column - 1))}${'^'.repeat(Math.max(1, Math.min(d.length, text.length - d.column + 1)))}`);
  }
  if (d.hint) lines.push(`hint: ${d.hint}`);
  return lines.join('\n');
}

/** A store, context, copy or file-system error as the user should read it; undefined for
 *  anything else (a bug, reported as such by the CLI). */
export function toUserError(err: unknown): UserError | undefined {
  if (err instanceof UserError) return err;
  if (err instanceof ContextError) return new UserError(`CONTEXT_${err.code}`, err.message, err.hint, EXIT.usage);
  if (err instanceof CopyError) return new UserError('COPY', err.message, err.hint, EXIT.usage);
  if (err instanceof StoreError) {
    if (err.code === 'ECHANGED') return new UserError('ECHANGED', `${String(err.facts.path ?? 'a file')} changed while it was being copied`, 'build again once the file is saved', EXIT.io, undefined, String(err.facts.path ?? ''));
    return new UserError(err.code, `store error: ${err.message}`, 'run `stratum cache verify` to check and repair the store', EXIT.io);
  }
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string' && typeof e.syscall === 'string') {
    return new UserError(e.code, `${e.syscall} ${e.path ?? ''}: ${e.message}`, e.code === 'ENOSPC' ? 'free some disk space (`stratum prune`)' : 'check permissions and free space', EXIT.io, undefined, e.path);
  }
  return undefined;
}
