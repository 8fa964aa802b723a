/**
 * The solver: runs the stages of a build as a DAG. A stage starts once every stage it depends
 * on (its FROM stage, `COPY --from`, `RUN --mount=from=`) has finished, at most `jobs` at a
 * time; independent branches run concurrently, as in BuildKit. The first failure aborts the
 * shared signal, so the other running branches cancel, and no new task starts; the solver
 * waits for every started task to settle before it returns, so nothing runs on after it.
 *
 *   pending ──deps done, slot free──▶ running ──ok──▶ done
 *      │                                 └──failed──▶ failed ─▶ abort(others)
 *      └──── a dep failed or aborted ───▶ skipped
 *
 * Pure scheduling: tasks do their own work and report success as a value.
 */

export interface SolveTask<T> {
  id: number;
  deps: readonly number[];
  run(signal: AbortSignal): Promise<{ ok: boolean; value: T }>;
}

export interface SolveResult<T> {
  ok: boolean;
  /** Results of the tasks that ran, by id. */
  results: Map<number, { ok: boolean; value: T }>;
  /** The task whose failure stopped the solve (undefined when ok or cancelled from outside). */
  failed?: number;
  /** Tasks that never started because a dependency failed or the solve was aborted. */
  skipped: number[];
}

export async function solve<T>(tasks: readonly SolveTask<T>[], opts: { jobs: number; signal?: AbortSignal }): Promise<SolveResult<T>> {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  for (const t of tasks) {
    for (const d of t.deps) if (!byId.has(d)) throw new Error(`solver: task ${t.id} depends on unknown task ${d}`);
  }
  assertAcyclic(tasks);
  const jobs = Math.max(1, Math.floor(opts.jobs));
  const inner = new AbortController();
  const onOuterAbort = () => inner.abort(opts.signal?.reason);
  if (opts.signal?.aborted) inner.abort(opts.signal.reason);
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });

  const results = new Map<number, { ok: boolean; value: T }>();
  const started = new Set<number>();
  const running = new Set<Promise<void>>();
  let failed: number | undefined;

  const ready = () =>
    tasks.filter((t) => !started.has(t.id) && t.deps.every((d) => results.get(d)?.ok === true));

  try {
    for (;;) {
      if (!inner.signal.aborted) {
        // Start what is ready, in declaration order (the Dockerfile's), up to the limit.
        for (const t of ready()) {
          if (running.size >= jobs) break;
          started.add(t.id);
          const p: Promise<void> = t
            .run(inner.signal)
            .then(
              (r) => r,
              (err: unknown) => {
                // A thrown task is a failed task; the error travels as the value's cause.
                throw err;
              },
            )
            .then((r) => {
              results.set(t.id, r);
              // A task that fails after the abort was cancelled by it: not the culprit.
              if (!r.ok && failed === undefined && !inner.signal.aborted) {
                failed = t.id;
                inner.abort(new Error(`task ${t.id} failed`));
              }
            })
            .finally(() => running.delete(p));
          running.add(p);
        }
      }
      if (running.size === 0) break;
      // A rejection (a bug in a task) aborts the rest, then propagates once all settle.
      try {
        await Promise.race(running);
      } catch (err) {
        inner.abort(err);
        await Promise.allSettled(running);
        throw err;
      }
    }
  } finally {
    opts.signal?.removeEventListener('abort', onOuterAbort);
  }
  const skipped = tasks.filter((t) => !started.has(t.id)).map((t) => t.id);
  const ok = failed === undefined && skipped.length === 0 && [...results.values()].every((r) => r.ok);
  return { ok, results, ...(failed !== undefined ? { failed } : {}), skipped };
}

function assertAcyclic(tasks: readonly SolveTask<unknown>[]): void {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const state = new Map<number, 1 | 2>();
  const visit = (id: number, path: number[]) => {
    const s = state.get(id);
    if (s === 2) return;
    if (s === 1) throw new Error(`solver: dependency cycle ${[...path, id].join(' → ')}`);
    state.set(id, 1);
    for (const d of byId.get(id)!.deps) visit(d, [...path, id]);
    state.set(id, 2);
  };
  for (const t of tasks) visit(t.id, []);
}
