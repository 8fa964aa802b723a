/**
 * The executor contract (DESIGN.md "Executors"): the engine asks an executor for a root that
 * shows a chain, runs commands in it, and collects what they changed as layer entries. The
 * engine never knows which executor runs:
 *
 * - `sandbox`: user + mount + PID + IPC namespaces, the chain's extracted layers as overlayfs
 *   lowerdirs and a fresh upperdir; the upperdir is the layer.
 * - `host-tools`: a chain from `FROM scratch` (no shell of its own) runs the host's tools in a
 *   sandbox whose only writable tree is the stage's workspace.
 * - `host`: no isolation at all (`--executor=host`), for machines without user namespaces.
 */
import type { ChainDigest, LayerDigest } from '../cache/digest.js';
import type { LayerEntry } from '../cache/layer-types.js';
import type { ViewLike } from './workspace.js';

export type ExecutorKind = 'sandbox' | 'host-tools' | 'host';

/** A directory or tmpfs placed into the root for one command (never part of the layer). */
export type ExecMount =
  | {
      type: 'bind';
      source: string;
      target: string;
      readonly: boolean;
      /** Writable, but the writes are dropped (`bind,rw`, as BuildKit): an overlay over the
       *  source with its upper on a tmpfs of the RUN's own, mounted on `scratch` (an empty
       *  directory outside the root). */
      discard?: { scratch: string };
    }
  | { type: 'tmpfs'; target: string; sizeBytes?: number };

export interface ExecRequest {
  argv: string[];
  /** A script (a RUN heredoc) that the executor writes to a file outside the layer and whose
   *  path it appends to argv. */
  script?: string;
  /** The whole environment the command sees (the executor adds nothing). */
  env: Record<string, string>;
  /** Names of `env` entries whose values are absolute paths in the root (SSH_AUTH_SOCK of an
   *  ssh mount): an executor that places the root elsewhere (host-tools) maps them too. */
  pathEnv?: string[];
  /** Absolute path inside the root (the image's WORKDIR); created when missing. */
  cwd: string;
  /** Numeric ids inside the root; undefined runs as root (0:0). */
  user?: { uid: number; gid: number; groups?: number[] };
  mounts: ExecMount[];
  network: 'host' | 'none';
  onLine: (stream: 'stdout' | 'stderr', line: string) => void;
  /** Contention for a store directory the step needs (a cache mount held by another build). */
  onContention?: (resource: 'workspace' | 'cache-mount', name: string, slot: number, waitedMs: number) => void;
  signal?: AbortSignal;
  /** Grace period between SIGTERM and SIGKILL when cancelled. */
  killGraceMs?: number;
  /** The caller runs nothing else in this root and collects right after a success: a sandbox
   *  executor may then read the changes before its helper exits (one helper instead of two;
   *  for a rootless user that read also opens the files up for the store, which a later exec
   *  in the same root would see). */
  lastExec?: boolean;
}

export type ExecResult =
  | { ok: true; ms: number }
  | { ok: false; ms: number; exitCode: number | null; signal: string | null; cancelled: boolean; spawnError?: string; hint?: string };

/** A root prepared for one step. */
export interface PreparedRoot {
  readonly kind: ExecutorKind;
  exec(req: ExecRequest): Promise<ExecResult>;
  /** The changes made since prepare(), as layer entries (blobs already written to the store),
   *  and, when the executor knows it cheaply, the union view after them. */
  collect(): Promise<{ entries: LayerEntry[]; after?: ViewLike }>;
  /** The step's layer and key are committed: the root now holds `layers` (a workspace keeps
   *  the tree for the next step). */
  committed?(layers: LayerDigest[], chain: ChainDigest): void;
  /** Give the root back (unmount, remove the upperdir, release locks). Idempotent. */
  release(): Promise<void>;
}

export interface ChainRef {
  layers: readonly LayerDigest[];
  chain: ChainDigest;
  /** The union view of `layers`, when the caller has it already (the engine does); an
   *  executor that needs it merges it otherwise. */
  view?: ViewLike;
}

export interface Executor {
  readonly kind: ExecutorKind;
  prepare(chain: ChainRef): Promise<PreparedRoot>;
  /** A RUN is about to miss: start what the first prepare() needs (modules, machine checks,
   *  the first helper) now, beside the build's own work. Its failures surface in prepare(). */
  warm?(): void;
  /** The build is over: give back what the executor holds across steps (a workspace slot). */
  close?(): Promise<void> | void;
}

/** Lines of a RUN's output kept for a failure's report. (Here, not in executor.ts, so that
 *  importing it does not load node:child_process.) */
export const LOG_TAIL_LINES = 50;
