/** The stage solver: dependency order, concurrency limit, failure cancelling other branches. */
import * as assert from 'uvu/assert';
import { suite } from './util/rig.js';
import { solve, type SolveTask } from '../engine/solver.js';

const t = suite('solver');

/** A task the test releases by hand, recording when it ran and whether it saw an abort. */
function gate(id: number, deps: number[], log: string[], outcome: 'ok' | 'fail' = 'ok') {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let aborted = false;
  const task: SolveTask<number> = {
    id,
    deps,
    async run(signal) {
      log.push(`start ${id}`);
      await new Promise<void>((resolve) => {
        void released.then(resolve);
        signal.addEventListener('abort', () => {
          aborted = true;
          resolve();
        });
      });
      log.push(`end ${id}`);
      return { ok: !aborted && outcome === 'ok', value: id };
    },
  };
  return { task, release, wasAborted: () => aborted };
}

const tick = () => new Promise((r) => setTimeout(r, 5));

t.test('independent tasks run at once; a dependent one waits for both', async () => {
  const log: string[] = [];
  const a = gate(0, [], log);
  const b = gate(1, [], log);
  const c = gate(2, [0, 1], log);
  const done = solve([a.task, b.task, c.task], { jobs: 4 });
  await tick();
  assert.equal(log, ['start 0', 'start 1']);
  a.release();
  await tick();
  assert.equal(log, ['start 0', 'start 1', 'end 0']);
  b.release();
  await tick();
  assert.equal(log.slice(3), ['end 1', 'start 2']);
  c.release();
  const r = await done;
  assert.ok(r.ok);
  assert.equal([...r.results.keys()].sort(), [0, 1, 2]);
});

t.test('no more than `jobs` tasks run at once', async () => {
  const log: string[] = [];
  const gates = [0, 1, 2].map((i) => gate(i, [], log));
  const done = solve(gates.map((g) => g.task), { jobs: 2 });
  await tick();
  assert.equal(log, ['start 0', 'start 1']);
  gates[1]!.release();
  await tick();
  assert.equal(log, ['start 0', 'start 1', 'end 1', 'start 2']);
  gates[0]!.release();
  gates[2]!.release();
  assert.ok((await done).ok);
});

t.test('a failure cancels the running branches and skips what depends on it', async () => {
  const log: string[] = [];
  const slow = gate(0, [], log);
  const bad = gate(1, [], log, 'fail');
  const after = gate(2, [1], log);
  const done = solve([slow.task, bad.task, after.task], { jobs: 4 });
  await tick();
  bad.release();
  const r = await done;
  assert.not.ok(r.ok);
  assert.is(r.failed, 1);
  assert.ok(slow.wasAborted(), 'the other branch saw the abort');
  assert.equal(r.skipped, [2]);
  assert.not.ok(log.includes('start 2'));
});

t.test('an outside abort stops everything and reports no culprit', async () => {
  const log: string[] = [];
  const a = gate(0, [], log);
  const b = gate(1, [0], log);
  const ac = new AbortController();
  const done = solve([a.task, b.task], { jobs: 2, signal: ac.signal });
  await tick();
  ac.abort();
  const r = await done;
  assert.not.ok(r.ok);
  assert.ok(a.wasAborted());
  assert.is(r.failed, undefined, 'a task cancelled by the abort is not the culprit');
  assert.equal(r.skipped, [1]);
});

t.test('a task that throws aborts the others and the error reaches the caller after they settle', async () => {
  const log: string[] = [];
  const other = gate(0, [], log);
  const boom: SolveTask<number> = { id: 1, deps: [], run: async () => Promise.reject(new Error('bug in a step')) };
  let err: unknown;
  await solve([other.task, boom], { jobs: 2 }).catch((e) => (err = e));
  assert.instance(err, Error);
  assert.match((err as Error).message, 'bug in a step');
  assert.ok(other.wasAborted());
  assert.ok(log.includes('end 0'), 'the running task settled before the solver returned');
});

t.test('cycles and unknown dependencies are refused', async () => {
  const run = async () => ({ ok: true, value: 0 });
  let e1: unknown;
  await solve([{ id: 0, deps: [1], run }, { id: 1, deps: [0], run }], { jobs: 1 }).catch((e) => (e1 = e));
  assert.match(String(e1), /cycle 0 → 1 → 0/);
  let e2: unknown;
  await solve([{ id: 0, deps: [7], run }], { jobs: 1 }).catch((e) => (e2 = e));
  assert.match(String(e2), /unknown task 7/);
});

t.run();
