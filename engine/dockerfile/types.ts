/**
 * Types shared by the Dockerfile parser (engine/dockerfile/*) and the planner.
 *
 * Two levels, as in BuildKit:
 *  - `Node`: the low-level AST, exactly what BuildKit's parser produces (the conformance
 *    suite in ../shared/conformance/buildkit-parser compares against it);
 *  - `Instruction`: typed instructions with flags parsed and validated, arguments still raw
 *    (variable expansion needs the ARG/ENV state, which only the planner knows).
 */

/** A user-facing error about a place in a file. Printed with the line and the span underlined. */
export interface Diagnostic {
  /** Stable code, e.g. `DF_UNKNOWN_INSTRUCTION`, `DF_BAD_FLAG`, `DF_JSON`. */
  code: string;
  message: string;
  hint?: string;
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based column of the first offending character. */
  column: number;
  /** Length of the offending span (>= 1). */
  length: number;
}

export type Result<T, E = Diagnostic> = { ok: true; value: T } | { ok: false; error: E };

export interface Heredoc {
  name: string;
  /** File descriptor prefix (`3<<EOF`); 0 when absent. */
  fd: number;
  /** False when any part of the name was quoted: the body is not variable-expanded. */
  expand: boolean;
  /** `<<-`: leading tabs are stripped (the parser keeps them in `content`). */
  chomp: boolean;
  /** The body, each line ending in '\n'. */
  content: string;
}

/** BuildKit's low-level AST node. */
export interface Node {
  /** Keyword, lower-cased. */
  cmd: string;
  flags: string[];
  args: string[];
  /** True only for exec (JSON array) form. */
  json: boolean;
  startLine: number;
  /** Includes heredoc bodies. */
  endLine: number;
  /** 1-based column of the keyword on startLine. */
  column: number;
  /** The joined logical line, as written (keyword included). */
  original: string;
  heredocs: Heredoc[];
  /** ONBUILD's inner instruction. */
  sub?: Node;
  /** The file this node was parsed from (set by `parseDockerfile`; used in diagnostics). */
  file?: string;
  /**
   * Where the pieces of `original` come from: one entry per joined physical line, in order.
   * `original[offset]` is at (`line`, `column`) in the file. Set by the parser.
   */
  segments?: Segment[];
  /** Offset in `original` of each entry of `flags` (same order). Set by the parser. */
  flagOffsets?: number[];
  /** Offset in `original` where the arguments (after the keyword and flags) start. */
  argsOffset?: number;
}

/** A piece of a logical line: `original[offset]` sits at 1-based (`line`, `column`). */
export interface Segment {
  offset: number;
  line: number;
  column: number;
}

export interface Directive {
  name: string;
  value: string;
  line: number;
}

export interface ParsedDockerfile {
  file: string;
  escapeToken: string;
  directives: Directive[];
  warnings: { message: string; line: number }[];
  nodes: Node[];
}

/** A `--mount=type=cache,target=/x,id=y` (RUN). Only the fields stratum uses are typed. */
export interface Mount {
  type: 'cache' | 'bind' | 'tmpfs' | 'secret' | 'ssh';
  /** As written; empty when not given (BuildKit then mounts at the working directory). */
  target: string;
  id?: string;
  source?: string;
  from?: string;
  readonly?: boolean;
  sharing?: 'shared' | 'private' | 'locked';
  /** secret and ssh mounts: fail when the secret or agent is missing. */
  required?: boolean;
  /** All key=value pairs as written, for the cache key (a bare key such as `ro` maps to ''). */
  raw: Record<string, string>;
}

interface Base {
  node: Node;
}

/**
 * Typed instructions. String fields hold the raw words as written (quotes and `$VAR`s intact)
 * unless the field name says otherwise: expansion happens in the planner through
 * `expandInstruction` (engine/dockerfile/expand.ts), because it needs the ARG/ENV state.
 */
export type Instruction =
  | (Base & { kind: 'FROM'; image: string; as?: string; platform?: string })
  | (Base & {
      kind: 'RUN';
      /** exec form: the argv; shell form: one command string. */
      exec: string[] | null;
      shell: string | null;
      heredocs: Heredoc[];
      mounts: Mount[];
      network?: string;
      security?: string;
      /** `--device=name[,required]`, as written. */
      devices?: string[];
    })
  | (Base & {
      kind: 'COPY' | 'ADD';
      sources: string[];
      dest: string;
      from?: string;
      chown?: string;
      chmod?: string;
      link: boolean;
      parents: boolean;
      exclude: string[];
      /** ADD only. */
      checksum?: string;
      keepGitDir?: boolean;
      /** ADD only: `--unpack`. */
      unpack?: boolean;
      heredocs: Heredoc[];
    })
  | (Base & { kind: 'WORKDIR'; path: string })
  | (Base & { kind: 'ENV'; pairs: { key: string; value: string }[] })
  | (Base & { kind: 'ARG'; args: { name: string; default?: string }[] })
  | (Base & { kind: 'LABEL'; pairs: { key: string; value: string }[] })
  | (Base & { kind: 'USER'; user: string })
  | (Base & { kind: 'CMD' | 'ENTRYPOINT'; exec: string[] | null; shell: string | null })
  | (Base & { kind: 'SHELL'; shell: string[] })
  | (Base & { kind: 'EXPOSE'; ports: string[] })
  | (Base & { kind: 'VOLUME'; paths: string[] })
  | (Base & { kind: 'STOPSIGNAL'; signal: string })
  | (Base & {
      kind: 'HEALTHCHECK';
      /** null for HEALTHCHECK NONE. */
      test: string[] | null;
      interval?: string;
      timeout?: string;
      startPeriod?: string;
      startInterval?: string;
      retries?: number;
    })
  | (Base & { kind: 'ONBUILD'; expression: string })
  | (Base & { kind: 'MAINTAINER'; name: string });

export type InstructionKind = Instruction['kind'];
