/**
 * A sandbox helper started before it is needed: perl's start-up and the compile of the helper
 * script (ns-helper.pl.ts) take 5–8 ms here, more under load, and are the same for every RUN.
 * The executor starts one as soon as the machine's static checks pass, so that perl gets
 * ready on the other core while this process loads the executor's modules and lays out the
 * workspace and root; the first RUN hands it its spec (ns.ts sendSpec) instead of spawning.
 *
 * A standby does nothing before its spec comes: it has created no namespace and holds no
 * mount; it only waits on fd 3 (and dies with this process, PR_SET_PDEATHSIG, like every
 * helper). One that is never used is given an empty spec by discard(), on which the helper
 * exits at once ("spec has no op", exit 125, its output dropped).
 */
import type { ChildProcess } from 'node:child_process';
import { spawnHelper, type NsTools } from './ns.js';

/** The stdio that runInSandbox (run.ts) gives every RUN's helper. */
const RUN_STDIO = { stdout: 'pipe', stderr: 'pipe' } as const;

export class HelperStandby {
  #child: ChildProcess | undefined;
  /** The waiting helper's pid (for diagnostics and tests). */
  readonly pid: number | undefined;

  constructor(tools: NsTools) {
    const child = spawnHelper(tools, RUN_STDIO);
    child.on('error', () => {
      // Not spawned after all (perl gone since the check): take() then spawns anew, and that
      // spawn's error is reported.
      if (this.#child === child) this.#child = undefined;
    });
    child.once('exit', () => {
      if (this.#child === child) this.#child = undefined;
    });
    // A standby never keeps this process alive (a build that ends without using it just
    // exits; the helper dies with it): referenced again when taken.
    child.unref();
    for (const s of [child.stdout, child.stderr, child.stdio[3]]) (s as { unref?: () => void } | null)?.unref?.();
    this.#child = child;
    this.pid = child.pid;
  }

  /** The waiting helper, for one RUN (its stdio as runInSandbox's), or undefined when it was
   *  taken or is gone. */
  take(): ChildProcess | undefined {
    const c = this.#child;
    this.#child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return undefined;
    c.ref();
    for (const s of [c.stdout, c.stderr, c.stdio[3]]) (s as { ref?: () => void } | null)?.ref?.();
    return c;
  }

  /** Let an unused helper go (idempotent). */
  discard(): void {
    const c = this.take();
    if (!c) return;
    c.stdout?.resume();
    c.stderr?.resume();
    (c.stdio[3] as NodeJS.WritableStream | null)?.end();
  }
}
