/**
 * Test helpers: a temp-directory rig, a per-test timeout, and hooks that fail loudly.
 * uvu has no per-test timeout and swallows errors thrown in hooks; `test()` here wraps both.
 */
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, existsSync, rmSync, realpathSync } from 'node:fs';
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

/** Reject after `ms` with a message naming the test. */
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

/**
 * A uvu suite whose tests time out (default 60 s) and whose hooks report their errors
 * instead of being swallowed: a throwing hook fails the next test with the hook's error.
 */
export function suite<C extends Ctx = Ctx>(name: string, opts: { timeoutMs?: number } = {}) {
  const s = uvuSuite<C>(name);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  let hookError: unknown;
  const guard =
    (hookName: string, fn: (ctx: C) => unknown) =>
    async (ctx: C) => {
      try {
        await fn(ctx);
      } catch (err) {
        hookError = new Error(`${hookName} hook failed: ${err instanceof Error ? err.stack : String(err)}`);
        console.error(hookError);
      }
    };
  const test = (title: string, fn: (ctx: C) => unknown, ms = timeoutMs) =>
    s(title, async (ctx) => {
      if (hookError) {
        const e = hookError;
        hookError = undefined;
        throw e;
      }
      await withTimeout(title, ms, () => fn(ctx));
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
