/**
 * Test helpers: a temp-directory rig, a per-test timeout, and hooks that fail loudly.
 * uvu has no per-test timeout and swallows errors thrown in hooks; `suite()` here wraps both:
 * a failing hook or a timed-out test fails the file (non-zero exit), never silently passes.
 */
import { mkdtempSync, mkdirSync, writeFileSync, writeSync, readFileSync, existsSync, rmSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { suite as uvuSuite } from 'uvu';

export class Rig {
  readonly dir: string;
  constructor(prefix = 'stratum-test-') {
    this.dir = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  }
  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }
  /** Write files: `{ 'a/b.txt': 'content' }`. Parent directories are created. */
  write(files: Record<string, string | Buffer>): void {
    for (const [rel, content] of Object.entries(files)) {
      const p = this.path(rel);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, content);
    }
  }
  read(rel: string): string {
    return readFileSync(this.path(rel), 'utf8');
  }
  exists(rel: string): boolean {
    return existsSync(this.path(rel));
  }
  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Reject after `ms` with a message naming the test. For a step inside a test; the test
 *  itself is stopped harder (see `suite`). */
export function withTimeout<T>(name: string, ms: number, fn: () => Promise<T> | T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    Promise.resolve().then(fn),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`test "${name}" timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

type Ctx = Record<string, unknown>;

/** Lines that test/run.mjs shows next to a failed file start with this. */
const TAG = '[rig]';

/** Every hook failure of this process. uvu runs `after` hooks (and the last `afterEach`) when
 *  no test is left to fail, so the file's exit code is the only place such an error can land. */
const hookErrors: string[] = [];
let exitHookInstalled = false;

function recordHookError(what: string, err: unknown): void {
  hookErrors.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
  // Now, with the stack, where it happened in the output; once more, tagged, at exit.
  console.error(`\n${what} failed:`, err);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' runs after uvu's summary, which sets process.exitCode from the tests alone; the
  // exit code is read after the listeners, so this is the last word.
  process.on('exit', () => {
    writeSync(2, `\n${hookErrors.map((e) => `${TAG} HOOK FAILED (so this file fails): ${e}\n`).join('')}`);
    process.exitCode = 1;
  });
}

/** The process group this process leads, if it leads one (Linux: field 5 of /proc/self/stat). */
function ownGroup(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
    return pgrp === process.pid ? pgrp : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A test (or hook) ran out of time. Its body cannot be cancelled from outside (a Promise.race
 * would leave it running, writing files and driving children while later tests run), so the
 * whole file stops here: say which test, end the processes the file started, exit non-zero.
 * The child processes are ended only when test/run.mjs started this file as the leader of its
 * own process group (STRATUM_TEST_OWN_GROUP=1): run by hand from a shell, the group would also
 * hold the shell's pipeline (`node x.test.js | tail`).
 */
function stopOnTimeout(what: string, ms: number): never {
  writeSync(2, `\n${TAG} TIMEOUT: ${what} did not finish in ${ms} ms; stopping this file\n`);
  const group = process.env.STRATUM_TEST_OWN_GROUP === '1' ? ownGroup() : undefined;
  if (group !== undefined) {
    // SIGTERM, not SIGKILL: a stratum CLI ends the RUN process groups it started on SIGTERM;
    // test/run.mjs sends SIGKILL to whatever is left after a grace period.
    process.on('SIGTERM', () => {});
    try {
      process.kill(-group, 'SIGTERM');
    } catch {
      // nothing else in the group
    }
  }
  process.exit(1);
}

/** Run `fn`; if it has not settled after `ms`, stop the file (it never rejects for time). */
async function boundedBy(what: string, ms: number, fn: () => unknown): Promise<void> {
  const timer = setTimeout(() => stopOnTimeout(what, ms), ms);
  try {
    await fn();
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A uvu suite whose tests time out (default 60 s) and whose hooks report their errors
 * instead of being swallowed.
 * - A throwing hook fails the next test with the hook's error (so the failure shows next to a
 *   test name), and always fails the file: it prints the error again at exit and exits 1,
 *   which also covers `after` and the last `afterEach`, where no test is left to fail.
 * - A test or hook that outlives its timeout stops the file (see `stopOnTimeout`).
 */
export function suite<C extends Ctx = Ctx>(name: string, opts: { timeoutMs?: number } = {}) {
  const s = uvuSuite<C>(name);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  let hookError: unknown;
  const guard =
    (hookName: string, fn: (ctx: C) => unknown) =>
    async (ctx: C) => {
      // uvu keeps the running test's name in the context; empty in before/after.
      const current = typeof ctx.__test__ === 'string' && ctx.__test__ ? ` around test "${ctx.__test__}"` : '';
      const what = `${hookName} hook of suite "${name}"${current}`;
      try {
        await boundedBy(what, timeoutMs, () => fn(ctx));
      } catch (err) {
        hookError = new Error(`${what} failed: ${err instanceof Error ? err.stack : String(err)}`);
        recordHookError(what, err);
      }
    };
  const test = (title: string, fn: (ctx: C) => unknown, ms = timeoutMs) =>
    s(title, async (ctx) => {
      if (hookError) {
        const e = hookError;
        hookError = undefined;
        throw e;
      }
      await boundedBy(`test "${title}" of suite "${name}"`, ms, () => fn(ctx));
    });
  return {
    test,
    before: (fn: (ctx: C) => unknown) => s.before(guard('before', fn)),
    after: (fn: (ctx: C) => unknown) => s.after(guard('after', fn)),
    beforeEach: (fn: (ctx: C) => unknown) => s.before.each(guard('beforeEach', fn)),
    afterEach: (fn: (ctx: C) => unknown) => s.after.each(guard('afterEach', fn)),
    run: () => s.run(),
  };
}

/** Whether a process of this pid exists (signal 0). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
