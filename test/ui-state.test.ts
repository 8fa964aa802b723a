import { readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import { suite } from './util/rig.js';
import type { BuildEvent, StepInfo } from '../engine/events.js';
import {
  FULL_LOG_LINES,
  LOG_TAIL_LINES,
  currentFailure,
  initialState,
  reduce,
  reduceAll,
  runningLog,
  type Mode,
  type UiState,
} from '../cli/ui/state.js';

const t = suite('ui state');

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../test/fixtures/events/${name}.json`, import.meta.url), 'utf8')) as BuildEvent[];
const FIXTURES = ['cold-build', 'warm-build', 'failed-build', 'watch-cycle'] as const;

const step = (index: number, instruction = `RUN step ${index}`, stage = '0'): StepInfo => ({
  index,
  total: 3,
  stage,
  stageIndex: index,
  stageTotal: 3,
  instruction,
  line: index,
});
const S1 = step(1, 'FROM alpine');
const S2 = step(2, 'COPY . .');
const S3 = step(3, 'RUN make');
const start = (build = 1): BuildEvent => ({ type: 'build-start', build, target: '0', steps: [S1, S2, S3], time: 0 });
const begin = (s: StepInfo): BuildEvent => ({ type: 'step-start', ...s, time: 0 });
const hit = (s: StepInfo, savedMs?: number): BuildEvent => ({
  type: 'step-done',
  ...s,
  cached: true,
  layer: 'abc',
  size: 10,
  ms: 1,
  ...(savedMs !== undefined ? { savedMs } : {}),
});
const miss = (s: StepInfo, reason: string, layer: string | null = 'def'): BuildEvent => ({
  type: 'step-done',
  ...s,
  cached: false,
  layer,
  size: layer ? 2048 : 0,
  ms: 1500,
  reason,
});
const log = (index: number, line: string): BuildEvent => ({ type: 'step-log', index, stream: 'stdout', line });
const failed = (s: StepInfo, logTail: string[] = ['boom']): BuildEvent => ({
  type: 'step-failed',
  ...s,
  ms: 900,
  message: 'RUN make exited with code 2',
  hint: 'fix the Makefile',
  exitCode: 2,
  signal: null,
  logTail,
});
const done = (build: number, ok: boolean, extra: Partial<Extract<BuildEvent, { type: 'build-done' }>> = {}): BuildEvent => ({
  type: 'build-done',
  build,
  ok,
  hits: 1,
  misses: 2,
  ms: 3000,
  savedMs: 1200,
  ...extra,
});
const fold = (events: BuildEvent[], mode: Mode = 'build'): UiState => events.reduce(reduce, initialState(mode));
const statuses = (s: UiState) => s.steps.map((r) => r.status).join(',');

t.test('starts idle with nothing to show', () => {
  const s = initialState('watch');
  assert.is(s.mode, 'watch');
  assert.is(s.phase, 'idle');
  assert.is(s.build, 0);
  assert.equal(s.steps, []);
  assert.is(runningLog(s), undefined);
  assert.is(currentFailure(s), undefined);
});

t.test('moves each row through its statuses (table)', () => {
  const cases: [string, BuildEvent[], string][] = [
    ['build-start lists every planned step as pending', [start()], 'pending,pending,pending'],
    ['step-start marks a row running', [start(), begin(S1)], 'running,pending,pending'],
    ['a cached step-done is a hit', [start(), begin(S1), hit(S1)], 'hit,pending,pending'],
    ['an uncached step-done is a built miss', [start(), begin(S1), hit(S1), begin(S2), miss(S2, 'x changed')], 'hit,done,pending'],
    ['step-failed marks the row failed', [start(), begin(S1), hit(S1), begin(S3), failed(S3)], 'hit,pending,failed'],
    ['step-cancelled marks the row cancelled', [start(), begin(S3), { type: 'step-cancelled', ...S3, ms: 5 }], 'pending,pending,cancelled'],
    ['a new build-start resets the rows', [start(), begin(S1), hit(S1), done(1, true), start(2)], 'pending,pending,pending'],
  ];
  for (const [name, events, want] of cases) assert.is(statuses(fold(events)), want, name);
});

t.test('keeps what each finished row shows: reason, size, time, time saved', () => {
  const s = fold([start(), begin(S1), hit(S1, 4100), begin(S2), miss(S2, 'src/app.ts changed'), begin(S3), miss(S3, 'parent layer changed', null)]);
  const [r1, r2, r3] = s.steps;
  assert.equal({ status: r1!.status, savedMs: r1!.savedMs, size: r1!.size, reason: r1!.reason }, { status: 'hit', savedMs: 4100, size: 10, reason: undefined });
  assert.equal({ status: r2!.status, reason: r2!.reason, size: r2!.size, ms: r2!.ms }, { status: 'done', reason: 'src/app.ts changed', size: 2048, ms: 1500 });
  assert.is(r3!.size, undefined, 'a metadata-only step (layer null) has no size');
  assert.equal(s.live, { hits: 1, misses: 2, savedMs: 4100 });
  assert.equal(s.finished, [1, 2, 3]);
  assert.equal(s.running, []);
});

t.test('records finished steps in completion order, for <Static>', () => {
  const s = fold([start(), begin(S1), begin(S2), hit(S2), miss(S1, 'y'), begin(S3), hit(S3)]);
  assert.equal(s.finished, [2, 1, 3]);
});

t.test('derives the phase from builds and watch states (table)', () => {
  const cases: [string, Mode, BuildEvent[], UiState['phase']][] = [
    ['build-start → building', 'build', [start()], 'building'],
    ['build ok → done', 'build', [start(), done(1, true)], 'done'],
    ['build failed → failed', 'build', [start(), done(1, false)], 'failed'],
    ['build cancelled → cancelled', 'build', [start(), done(1, false, { cancelled: true })], 'cancelled'],
    ['watch ok → watching', 'watch', [start(), done(1, true)], 'watching'],
    ['watch failed → failed', 'watch', [start(), done(1, false)], 'failed'],
    ['watch failed, then watching → still failed', 'watch', [start(), done(1, false), { type: 'watch-state', state: 'watching' }], 'failed'],
    ['watch cancelled → watching', 'watch', [start(), done(1, false, { cancelled: true })], 'watching'],
    ['debouncing', 'watch', [{ type: 'watch-state', state: 'debouncing' }], 'debouncing'],
    ['cancelling', 'watch', [start(), { type: 'watch-state', state: 'cancelling' }], 'cancelling'],
    ['stopped', 'watch', [{ type: 'watch-state', state: 'stopped' }], 'stopped'],
    ['a failure, then a good build → watching', 'watch', [start(), done(1, false), start(2), done(2, true), { type: 'watch-state', state: 'watching' }], 'watching'],
  ];
  for (const [name, mode, events, want] of cases) assert.is(fold(events, mode).phase, want, name);
});

t.test('keeps the last build totals and store size across a new build-start', () => {
  const s = fold([start(1), hit(S1), done(1, true, { storeSize: 5000, hits: 3, misses: 0, savedMs: 9000 }), start(2), hit(S1, 700)], 'watch');
  assert.is(s.build, 2);
  assert.equal(s.last, { build: 1, ok: true, cancelled: false, hits: 3, misses: 0, ms: 3000, savedMs: 9000 });
  assert.is(s.storeSize, 5000);
  assert.equal(s.live, { hits: 1, misses: 0, savedMs: 700 });
  // A build-done without a store size keeps the last known one.
  assert.is(reduce(s, done(2, true)).storeSize, 5000);
});

t.test('shows the last LOG_TAIL_LINES lines of the running step, cleaned', () => {
  const lines = Array.from({ length: 20 }, (_, i) => log(3, `\u001b[33mline ${i}\u001b[0m`));
  const s = fold([start(), begin(S3), ...lines]);
  const shown = runningLog(s);
  assert.ok(shown);
  assert.is(shown.step.index, 3);
  assert.equal(shown.lines, Array.from({ length: LOG_TAIL_LINES }, (_, i) => `line ${20 - LOG_TAIL_LINES + i}`));
  assert.is(runningLog(reduce(s, hit(S3))), undefined, 'a finished step has no log panel');
});

t.test('keeps the full log of a failed step, capped at FULL_LOG_LINES', () => {
  const n = FULL_LOG_LINES + 25;
  const lines = Array.from({ length: n }, (_, i) => log(3, `out ${i}`));
  const s = fold([start(), begin(S3), ...lines, failed(S3, ['out 523', 'out 524'])]);
  const f = currentFailure(s);
  assert.ok(f);
  assert.is(f.fullLog.length, FULL_LOG_LINES);
  assert.is(f.fullLog[0], 'out 25');
  assert.is(f.fullLog.at(-1), `out ${n - 1}`);
  assert.is(f.fullLogTruncated, true);
  assert.equal(f.logTail, ['out 523', 'out 524']);
  assert.equal({ message: f.message, hint: f.hint, exitCode: f.exitCode, ms: f.ms }, { message: 'RUN make exited with code 2', hint: 'fix the Makefile', exitCode: 2, ms: 900 });
  assert.equal(s.logs, {}, 'the buffer of a finished step is dropped');
  assert.is(s.steps[2]!.exitCode, 2);
});

t.test('a failure without step-log lines uses the engine tail as the full log', () => {
  const f = currentFailure(fold([start(), begin(S3), failed(S3, ['a', '\u001b[31mb\u001b[0m'])]));
  assert.ok(f);
  assert.equal(f.fullLog, ['a', 'b']);
  assert.is(f.fullLogTruncated, false);
});

t.test('a failure belongs to its build: hidden once the next build starts, kept in state', () => {
  const s = fold([start(1), begin(S3), failed(S3), done(1, false), start(2)], 'watch');
  assert.is(currentFailure(s), undefined);
  assert.is(s.failure?.build, 1);
});

t.test('splits a step-log that carries several lines', () => {
  const s = fold([start(), begin(S3), log(3, 'one\ntwo')]);
  assert.equal(s.logs[3], ['one', 'two']);
});

t.test('inserts a row the plan did not list, in index order', () => {
  const extra = { ...step(5, 'RUN extra'), total: 5 };
  const s = fold([start(), begin(extra)]);
  assert.equal(s.steps.map((r) => r.index), [1, 2, 3, 5]);
  assert.is(s.steps[3]!.status, 'running');
});

t.test('remembers the last watch change and the last three warnings', () => {
  const s = fold(
    [
      { type: 'watch-change', files: ['src/app.ts', 'src/b.ts'], fromStep: 5 },
      { type: 'warning', message: 'w1' },
      { type: 'warning', message: 'w2', file: 'Dockerfile' },
      { type: 'warning', message: 'w3', file: 'Dockerfile', line: 4 },
      { type: 'warning', message: 'w4' },
    ],
    'watch',
  );
  assert.equal(s.change, { files: ['src/app.ts', 'src/b.ts'], fromStep: 5 });
  assert.equal(s.warnings, ['w2 (Dockerfile)', 'w3 (Dockerfile:4)', 'w4']);
});

t.test('marks multi-stage plans', () => {
  const s = reduce(initialState(), { type: 'build-start', build: 1, target: 'app', steps: [step(1, 'FROM a', 'builder'), step(2, 'FROM b', 'app')], time: 0 });
  assert.is(s.multiStage, true);
  assert.is(fold([start()]).multiStage, false);
});

t.test('never mutates the state or the event it is given', () => {
  const deepFreeze = <T>(o: T): T => {
    if (o && typeof o === 'object') {
      for (const v of Object.values(o)) deepFreeze(v);
      Object.freeze(o);
    }
    return o;
  };
  for (const name of FIXTURES) {
    let s = deepFreeze(initialState(name === 'watch-cycle' ? 'watch' : 'build'));
    for (const e of fixture(name)) s = deepFreeze(reduce(s, deepFreeze(e)));
  }
});

t.test('reduceAll over a batch equals reducing one by one, for every fixture', () => {
  for (const name of FIXTURES) {
    const events = fixture(name);
    const one = fold(events, 'watch');
    for (const size of [1, 3, 7, 1000]) {
      let batched = initialState('watch');
      for (let i = 0; i < events.length; i += size) batched = reduceAll(batched, events.slice(i, i + size));
      assert.equal(batched, one, `${name} in batches of ${size}`);
    }
  }
});

t.test('the recorded fixtures end where they should', () => {
  const cold = fold(fixture('cold-build'));
  assert.is(statuses(cold), 'hit,done,done,done,done,done,done');
  assert.equal({ phase: cold.phase, hits: cold.last?.hits, misses: cold.last?.misses }, { phase: 'done', hits: 1, misses: 6 });
  const warm = fold(fixture('warm-build'));
  assert.is(statuses(warm), 'hit,hit,hit,hit,hit,hit,hit');
  assert.is(warm.live.savedMs, 47_565);
  const fail = fold(fixture('failed-build'));
  assert.is(statuses(fail), 'hit,hit,hit,hit,done,failed,pending');
  assert.is(fail.phase, 'failed');
  const watch = fold(fixture('watch-cycle'), 'watch');
  assert.is(watch.build, 2);
  assert.is(statuses(watch), 'hit,hit,hit,hit,done,done,done');
  assert.equal(watch.steps.map((r) => r.reason ?? ''), ['', '', '', '', 'src/app.ts changed', 'parent layer changed', 'parent layer changed']);
  assert.is(watch.phase, 'watching');
});

t.test('watch --run: the container line keeps its state and restarts across builds', async () => {
  const { containerText } = await import('../cli/ui/components/Header.js');
  const c = (state: 'starting' | 'running' | 'stopping' | 'exited' | 'failed', exitCode?: number): BuildEvent => ({ type: 'container-state', name: 'web', id: 'x', image: 'web:dev', state, ...(exitCode !== undefined ? { exitCode } : {}) });
  let s = initialState('watch');
  assert.is(s.container, undefined);
  s = [c('starting'), c('running')].reduce(reduce, s);
  assert.is(containerText(s.container!), 'container web (web:dev): running · 0 restarts');
  s = reduce(s, start(2));
  assert.is(s.container?.state, 'running', 'a new build keeps the line');
  s = [c('stopping'), c('exited', 143), c('starting'), c('running')].reduce(reduce, s);
  assert.is(containerText(s.container!), 'container web (web:dev): running · 1 restart');
  assert.equal(s.warnings, [], 'the exit of a replaced container is no warning');
  s = reduce(s, c('exited', 3));
  assert.is(containerText(s.container!), 'container web (web:dev): exited (exit 3) · 1 restart');
  assert.match(s.warnings.at(-1)!, /container web: exited \(exit 3\)/);
});

t.test('watch --run: the header keeps the container\'s last lines, cleaned of control sequences; a new container starts empty', () => {
  const c = (state: 'starting' | 'running'): BuildEvent => ({ type: 'container-state', name: 'web', id: 'x', image: 'web:dev', state });
  const log = (line: string, name = 'web'): BuildEvent => ({ type: 'container-log', name, stream: 'stdout', line });
  let s = [c('starting'), c('running'), log('one'), log('two'), log('\x1b[31mthree\x1b[0m\r'), log('four'), log('other', 'db')].reduce(reduce, initialState('watch'));
  assert.equal(s.container?.log, ['two', 'three', 'four']);
  s = reduce(s, c('starting'));
  assert.equal(s.container?.log, [], 'the next container has its own output');
});

t.run();
