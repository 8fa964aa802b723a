/** Usage text and usage errors (exit code 2). */
import { EXIT, UserError } from '../engine/errors.js';

export const USAGE = `stratum — build a Dockerfile into cached, content-addressed layers

Usage:
  stratum build [options] [CONTEXT]      build (CONTEXT defaults to .)
  stratum plan  [options] [CONTEXT]      show what a build would do, and what would hit the cache
  stratum watch [options] [CONTEXT]      rebuild on every change, with a live terminal UI
  stratum bench [options] [CONTEXT]      time cold, warm and incremental builds (stratum bench --help)

Build options:
  -f, --file PATH          Dockerfile (default: CONTEXT/Dockerfile)
  -t, --tag NAME[:TAG]     store the result as a tagged image (repeatable)
      --target STAGE       build this stage and what it needs
      --build-arg K=V      set a build argument (repeatable)
      --no-cache           rebuild every step
  -o, --output SPEC        type=local,dest=DIR (or just DIR); repeatable
      --progress MODE      auto | plain | json | tty  (auto: tty on a terminal, else plain)
      --cache-dir DIR      the store (default: $STRATUM_CACHE_DIR, $XDG_CACHE_HOME/stratum, ~/.cache/stratum)
      --format json        (plan) print JSON
      --debounce MS        (watch) quiet time after a change before rebuilding (default 40)
  -h, --help               show this help

Exit codes: 0 success, 1 a step failed, 2 bad usage or Dockerfile, 3 store or I/O failure.`;

export function usageError(message: string, hint = 'run `stratum --help` for usage'): UserError {
  return new UserError('USAGE', message, hint, EXIT.usage);
}
