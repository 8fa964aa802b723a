/**
 * User-facing errors, in one place: the one error type (a code, a message, a hint, an exit
 * code, and where: a Dockerfile diagnostic or a path), the one conversion from the errors
 * that lower layers throw (store, context, copy, Node's errno errors), and the one formatter
 * every command and reporter prints with. Never a stack trace for these.
 */
import { readFileSync } from 'node:fs';
import type { Diagnostic } from './dockerfile/types.js';
import type { ContextError } from './context.js';
import type { CopyError } from './copy.js';
import { StoreError, type StoreErrorCode } from '../cache/store-types.js';

/** Exit codes (DESIGN.md): 0 success, 1 a step failed, 2 bad usage or Dockerfile, 3 store or I/O. */
export const EXIT = { ok: 0, stepFailed: 1, usage: 2, io: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Dockerfile diagnostics (parser, instructions, planner). */
export type DockerfileCode =
  | 'DF_ARGS'
  | 'DF_BAD_FLAG'
  | 'DF_BEFORE_FROM'
  | 'DF_DIRECTIVE'
  | 'DF_DUP_STAGE'
  | 'DF_EMPTY'
  | 'DF_ENV'
  | 'DF_EXPAND'
  | 'DF_HEREDOC'
  | 'DF_JSON'
  | 'DF_LINE_TOO_LONG'
  | 'DF_MOUNT'
  | 'DF_NO_FROM'
  | 'DF_NO_STAGE'
  | 'DF_STAGE_ORDER'
  | 'DF_TARGET'
  | 'DF_UNKNOWN_INSTRUCTION';

/** Refused or unreadable imports (`stratum load`, `FROM oci-layout://`), as `IMPORT_<code>`. */
export type ImportCode =
  | 'BAD_ARCHIVE'
  | 'BAD_CONFIG'
  | 'BAD_DIGEST'
  | 'BAD_INDEX'
  | 'BAD_JSON'
  | 'BAD_LAYER'
  | 'BAD_MANIFEST'
  | 'BAD_REF'
  | 'DIFFID_MISMATCH'
  | 'DIGEST_MISMATCH'
  | 'MISSING_BLOB'
  | 'NOT_AN_IMAGE'
  | 'NOT_A_LAYOUT'
  | 'NOT_FOUND'
  | 'NO_NAME'
  | 'NO_PLATFORM'
  | 'NO_SUCH_TAG'
  | 'SIZE_MISMATCH'
  | 'TOO_LARGE'
  | 'TOO_MANY'
  | 'UNSAFE_ARCHIVE'
  | 'UNSAFE_LAYER'
  | 'UNSAFE_PATH'
  | 'UNSUPPORTED';

/** Node's errno codes that `toUserError` explains; any other errno becomes `EIO_OTHER`. */
export const ERRNO_CODES = ['ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EISDIR', 'EEXIST', 'ENOENT', 'ENOTEMPTY', 'EMFILE', 'ENFILE', 'ENAMETOOLONG', 'ELOOP', 'EBUSY', 'EXDEV', 'EIO'] as const;
export type ErrnoCode = (typeof ERRNO_CODES)[number];

/** Every code a user can see. Tests and callers tell errors apart by these, never by message. */
export type ErrorCode =
  // usage and environment (exit 2)
  | 'USAGE'
  | 'CONTAINER'
  | 'ENV_INVALID'
  | 'BAD_IMAGE_NAME'
  | 'NO_CONTEXT'
  | 'NO_DOCKERFILE'
  | 'NO_IMAGE'
  | 'NO_STORE'
  | 'STORE_NOT_DIR'
  | 'COPY'
  | 'CONTEXT_OUTSIDE'
  | 'CONTEXT_NOT_FOUND'
  | 'CONTEXT_BAD_PATTERN'
  | 'CONTEXT_IO'
  | 'OUTPUT_TYPE'
  | 'OUTPUT_NOT_DIR'
  | 'OUTPUT_IS_DIR'
  | 'OUTPUT_NOT_OURS'
  | 'OUTPUT_PARENT'
  | 'OUTPUT_BAD_INDEX'
  | 'RUN_MOUNT'
  | 'ADD_ARCHIVE'
  | 'ADD_URL'
  | 'RUN_USER'
  | 'ESANDBOX'
  | `REGISTRY_${string}`
  | 'CACHE_LAYER_MISMATCH'
  | 'CACHE_FALLBACK'
  | DockerfileCode
  | `IMPORT_${ImportCode}`
  // a step failed (exit 1)
  | 'STEP_FAILED'
  // store and I/O (exit 3)
  | Exclude<StoreErrorCode, 'EINVALID'>
  | 'EINVALID'
  | ErrnoCode
  | 'EIO_OTHER';

export class UserError extends Error {
  constructor(
    readonly code: ErrorCode,
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
    return new UserError(d.code as DockerfileCode, d.message, d.hint, EXIT.usage, d);
  }
}

export function usageError(message: string, hint = 'run `stratum --help` for usage'): UserError {
  return new UserError('USAGE', message, hint, EXIT.usage);
}

// --- the one conversion -----------------------------------------------------------------------

const ERRNO_HINTS: Record<ErrnoCode, string> = {
  ENOSPC: 'the disk is full: free some space (`stratum prune` frees store space)',
  EDQUOT: 'the disk quota is exhausted: free some space (`stratum prune` frees store space)',
  EACCES: 'permission denied: check the owner and mode of the path, or choose another --cache-dir',
  EPERM: 'the operation is not permitted on this path: check its owner, mode and attributes',
  EROFS: 'the file system is read-only: choose a writable --cache-dir (or STRATUM_CACHE_DIR)',
  ENOTDIR: 'a component of the path is a file, not a directory: fix the path, or move the file away',
  EISDIR: 'the path is a directory where a file was expected: choose another path',
  EEXIST: 'something already exists at the path: remove it or choose another path',
  ENOENT: 'the path does not exist: check it (a directory may have been removed during the build)',
  ENOTEMPTY: 'the directory is not empty: remove it or choose another path',
  EMFILE: 'too many open files: raise the limit (`ulimit -n`)',
  ENFILE: 'the system has too many open files: close some programs and try again',
  ENAMETOOLONG: 'the path is too long for the file system: choose a shorter path',
  ELOOP: 'too many symbolic links in the path: check it for a symlink loop',
  EBUSY: 'the path is busy (in use or a mount point): try again, or choose another path',
  EXDEV: 'the paths are on different file systems: keep the store and its temporary files on one',
  EIO: 'the disk reported an I/O error: check it (dmesg), then run `stratum cache verify`',
};

// ContextError and CopyError are recognised by name, not instanceof: importing their modules
// here would load the context reader (and its hashing) into every command's start-up.
const isContextError = (err: unknown): err is ContextError => err instanceof Error && err.name === 'ContextError';
const isCopyError = (err: unknown): err is CopyError => err instanceof Error && err.name === 'CopyError';

const isErrno = (err: unknown): err is NodeJS.ErrnoException =>
  err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && typeof (err as NodeJS.ErrnoException).syscall === 'string';

/** Node's messages repeat code, syscall and path (`ENOTDIR: not a directory, mkdir '/x'`); keep the description. */
function errnoDescription(e: NodeJS.ErrnoException): string {
  const m = /^[A-Z]+: ([^,]*)/.exec(e.message);
  return m ? m[1]! : e.message;
}

/**
 * A store, context, copy or filesystem error as the user error it is; undefined for anything
 * else (a bug, which the caller reports as one). Errors already converted pass through.
 * `hints.errno` replaces the errno hint where the caller knows better (bench's temporary dir).
 */
export function toUserError(err: unknown, hints: { errno?: string } = {}): UserError | undefined {
  if (err instanceof UserError) return err;
  if (isContextError(err)) return new UserError(`CONTEXT_${err.code}`, err.message, err.hint, EXIT.usage);
  if (isCopyError(err)) return new UserError('COPY', err.message, err.hint, EXIT.usage);
  if (err instanceof StoreError) {
    const path = typeof err.facts.path === 'string' ? err.facts.path : undefined;
    switch (err.code) {
      case 'ECHANGED':
        return new UserError('ECHANGED', `${path ?? 'a file'} changed while it was being copied`, 'build again once the file is saved', EXIT.io, undefined, path);
      case 'EINVALID':
        if (typeof err.facts.name === 'string') return new UserError('BAD_IMAGE_NAME', err.message.replace(/: use \[registry.*$/, ''), 'image names look like webapp:dev or registry.example/team/app:1.0', EXIT.usage);
        return new UserError('EINVALID', err.message, 'check the argument', EXIT.usage);
      case 'EIO': {
        // A filesystem failure in the store: the errno says what to do, not `cache verify`.
        const errno = typeof err.facts.errno === 'string' && (ERRNO_CODES as readonly string[]).includes(err.facts.errno) ? (err.facts.errno as ErrnoCode) : undefined;
        const why = /\bE[A-Z]+: ([^,]*)/.exec(err.message)?.[1];
        const what = typeof err.facts.op === 'string' && path !== undefined && why ? `store: ${err.facts.op} ${path}: ${why}` : err.message;
        if (errno) return new UserError(errno, `${what} (${errno})`, ERRNO_HINTS[errno], EXIT.io, undefined, path);
        return new UserError('EIO', `store error: ${err.message}`, 'check the disk and the store directory, then run `stratum cache verify`', EXIT.io, undefined, path);
      }
      default:
        return new UserError(err.code, `store error: ${err.message}`, 'run `stratum cache verify` to check and repair the store', EXIT.io, undefined, path);
    }
  }
  if (isErrno(err)) {
    const code = (ERRNO_CODES as readonly string[]).includes(err.code!) ? (err.code as ErrnoCode) : undefined;
    const where = err.path !== undefined ? ` ${err.path}` : '';
    const other = (err as { dest?: unknown }).dest;
    const dest = typeof other === 'string' ? ` → ${other}` : '';
    const hint = hints.errno ?? (code ? ERRNO_HINTS[code] : 'check the path, its permissions and free space');
    return new UserError(code ?? 'EIO_OTHER', `${err.syscall}${where}${dest}: ${errnoDescription(err)} (${err.code})`, hint, EXIT.io, undefined, err.path);
  }
  return undefined;
}

// --- the one formatter ------------------------------------------------------------------------

/**
 * What users read, on stderr, from every command:
 *
 *     error: Dockerfile:3:1: unknown instruction "RUUN"
 *     3 | RUUN make
 *       | ^^^^
 *     hint: did you mean RUN?
 *
 * `source` is the Dockerfile text (read from `diagnostic.file` when not given and readable).
 * Takes a UserError, or the `error` of a build-done event (message, hint, and its position
 * fields: watch prints a Dockerfile error exactly as build does).
 */
export function formatError(err: ErrorLike, source?: string): string {
  const d = err.diagnostic ?? positionOf(err);
  if (!d) return `error: ${err.message}${err.hint ? `\nhint: ${err.hint}` : ''}`;
  if (source === undefined) {
    try {
      source = readFileSync(d.file, 'utf8');
    } catch {
      source = undefined;
    }
  }
  return formatDiagnostic(d, source);
}

/** What formatError takes: a UserError, or build-done's `error` (engine/events.ts BuildError). */
export interface ErrorLike {
  message: string;
  hint?: string | undefined;
  diagnostic?: Diagnostic | undefined;
  code?: string | undefined;
  file?: string | undefined;
  line?: number | undefined;
  column?: number | undefined;
  length?: number | undefined;
}

/** The diagnostic that build-done's position fields describe, if they do. */
export function positionOf(err: ErrorLike): Diagnostic | undefined {
  if (err.file === undefined || err.line === undefined || err.column === undefined) return undefined;
  return { code: err.code ?? 'DF', message: err.message, ...(err.hint !== undefined ? { hint: err.hint } : {}), file: err.file, line: err.line, column: err.column, length: err.length ?? 1 };
}

/** A diagnostic in the same shape: position and message, the source line underlined, the hint. */
export function formatDiagnostic(d: Diagnostic, source?: string): string {
  const lines = [`error: ${d.file}:${d.line}:${d.column}: ${d.message}`];
  const text = source?.split('\n')[d.line - 1]?.replace(/\r$/, '');
  if (text !== undefined) {
    const gutter = `${d.line} | `;
    const width = Math.max(1, Math.min(d.length, text.length - d.column + 1));
    // Keep tabs in the padding so the carets line up under tab-indented text.
    const pad = text.slice(0, d.column - 1).replace(/[^\t]/g, ' ');
    lines.push(`${gutter}${text}`, `${' '.repeat(gutter.length - 2)}| ${pad}${'^'.repeat(width)}`);
  }
  if (d.hint) lines.push(`hint: ${d.hint}`);
  return lines.join('\n');
}
