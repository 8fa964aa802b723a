/**
 * The host executor: a RUN executes SHELL (default `/bin/sh -c`) — or the exec-form argv —
 * with cwd = workspace + WORKDIR and env = host env overlaid by the image env. Paths inside
 * the command are host paths: the Dockerfile describes the project's build, not a container.
 *
 * Each command runs in its own process group (detached), so that cancelling kills the whole
 * tree: SIGTERM to the group, SIGKILL after a grace period.
 */
import { groupKiller } from './process-group.js';
import { spawn } from 'node:child_process';
import { lineSplitter } from './line-splitter.js';
import { mergeStderr } from './merged-output.js';

export interface RunSpec {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  /** Called once per output line (without its newline). */
  onLine: (stream: 'stdout' | 'stderr', line: string) => void;
  signal?: AbortSignal;
  /** Grace period between SIGTERM and SIGKILL. */
  killGraceMs?: number;
  /** Called with the pid of the process group leader once it is started. */
  onSpawn?: (pid: number) => void;
}

export type RunResult =
  | { ok: true; ms: number }
  | { ok: false; ms: number; exitCode: number | null; signal: string | null; cancelled: boolean; spawnError?: string };

/** How many lines of output a failure keeps for its report. */
export { LOG_TAIL_LINES } from './executor-types.js';

export function runCommand(spec: RunSpec): Promise<RunResult> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    if (spec.signal?.aborted) {
      resolve({ ok: false, ms: 0, exitCode: null, signal: null, cancelled: true });
      return;
    }
    // One pipe for both streams where a shell can redirect (engine/merged-output.ts).
    const [cmd, ...args] = mergeStderr(spec.argv);
    const child = spawn(cmd!, args, {
      cwd: spec.cwd,
      env: spec.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid !== undefined) spec.onSpawn?.(child.pid);
    const group = groupKiller(child, spec.signal, spec.killGraceMs);
    const split = (stream: 'stdout' | 'stderr') => lineSplitter((line) => spec.onLine(stream, line));
    const out = split('stdout');
    const err = split('stderr');
    child.stdout!.on('data', out.data);
    child.stderr!.on('data', err.data);
    let spawnError: string | undefined;
    child.on('error', (e) => {
      spawnError = e.message;
    });
    child.on('close', (code, signal) => {
      out.end();
      err.end();
      group.settle();
      // Whatever the command left running in its group goes with it.
      if (code !== 0 || group.cancelled) group.kill('SIGKILL');
      const ms = performance.now() - t0;
      if (code === 0 && !group.cancelled) resolve({ ok: true, ms });
      else resolve({ ok: false, ms, exitCode: code, signal, cancelled: group.cancelled, ...(spawnError ? { spawnError } : {}) });
    });
  });
}
