/**
 * Cancelling a child that leads its own process group (spawned detached): on abort, SIGTERM
 * to the whole group, SIGKILL after a grace period. Shared by the host runner and the sandbox
 * runner, so a cancelled RUN ends the same way under every executor.
 */
import type { ChildProcess } from 'node:child_process';
import { constants } from 'node:os';

/** A finished child's status as a shell (and Docker) reports it: its exit code, or 128 + the
 *  number of the signal that ended it (SIGSEGV 139, SIGPIPE 141, SIGKILL 137). */
export function shellStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + ((signal && constants.signals[signal]) || constants.signals.SIGKILL);
}

export interface GroupKiller {
  /** Whether the abort signal fired while the child ran. */
  readonly cancelled: boolean;
  /** Signal the whole group now (it may already be gone). */
  kill(sig: NodeJS.Signals): void;
  /** The child has closed: stop listening and drop the pending SIGKILL. */
  settle(): void;
}

export function groupKiller(child: ChildProcess, signal: AbortSignal | undefined, graceMs = 2000): GroupKiller {
  let cancelled = false;
  let timer: NodeJS.Timeout | undefined;
  const kill = (sig: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, sig);
    } catch {
      // Already gone.
    }
  };
  const onAbort = () => {
    cancelled = true;
    kill('SIGTERM');
    timer = setTimeout(() => kill('SIGKILL'), graceMs);
    timer.unref();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  return {
    get cancelled() {
      return cancelled;
    },
    kill,
    settle() {
      signal?.removeEventListener('abort', onAbort);
      if (timer) clearTimeout(timer);
    },
  };
}
