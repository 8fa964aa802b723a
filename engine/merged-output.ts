/**
 * A RUN's stdout and stderr in the order the command wrote them.
 *
 * Two pipes cannot keep that order: when the command writes `a` to stdout, `b` to stderr and
 * `c` to stdout before the event loop wakes, libuv reads each readable pipe whole, and the
 * log shows `a c b` (or `b a c`). Only one pipe orders writes: the kernel appends them in
 * the order they happen. So a shell-form RUN (`/bin/sh -c SCRIPT`, or the SHELL's own
 * `sh|bash|dash|ash|zsh -c`) runs as `exec 2>&1; SCRIPT`, on the script's first line so that
 * the shell's line numbers in error messages stay the script's: both streams share the stdout
 * pipe, and its lines are reported as `stdout`. What is not a shell script (exec-form RUN,
 * another SHELL) keeps two pipes, ordered by arrival, since there is no shell to redirect in;
 * the sandbox helper's own setup messages still come on stderr, before the command starts.
 *
 * The cache key is computed from the instruction, never from this argv: merging changes no key.
 */
const SHELLS = new Set(['sh', 'bash', 'dash', 'ash', 'zsh', 'busybox']);

export function mergeStderr(argv: readonly string[]): string[] {
  const [cmd, flag, script, ...rest] = argv;
  if (cmd === undefined || flag !== '-c' || script === undefined || rest.length > 0) return [...argv];
  const base = cmd.slice(cmd.lastIndexOf('/') + 1);
  if (!SHELLS.has(base) || base === 'busybox') return [...argv];
  return [cmd, flag, `exec 2>&1; ${script}`];
}
