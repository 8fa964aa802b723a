/**
 * End-to-end: why each step missed, after the edits people make to a Dockerfile between two
 * builds (insert, delete, swap, edit a line, add a step, rename a stage). The real CLI builds a
 * temp project twice with a fresh store; the assertions are on the exact `reason` of every
 * step-done event of the second build (`hit` for a cache hit).
 */
import * as assert from 'uvu/assert';
import { suite, Rig } from '../util/rig.js';
import { runCli, stepsDone, type CliResult } from '../util/cli.js';

const LINES = [
  'FROM scratch',
  'WORKDIR /app',
  'COPY deps.txt ./',
  'RUN echo one > one.txt',
  'RUN echo two > two.txt',
  'COPY src/ ./src/',
  'RUN cat src/*.txt > bundle.txt',
];

function project(rig: Rig, lines: string[]): void {
  rig.write({
    'ctx/Dockerfile': `${lines.join('\n')}\n`,
    'ctx/deps.txt': 'alpha\n',
    'ctx/src/a.txt': 'A\n',
    'ctx/src/b.txt': 'B\n',
  });
}

function dockerfile(rig: Rig, lines: string[]): void {
  rig.write({ 'ctx/Dockerfile': `${lines.join('\n')}\n` });
}

function build(rig: Rig, ...extra: string[]): Promise<CliResult> {
  return runCli(['build', '--progress=json', '--cache-dir', rig.path('store'), ...extra, rig.path('ctx')]);
}

/** `instruction: hit` or `instruction: reason`, for every step that has a cache key. */
function verdicts(r: CliResult): string[] {
  return stepsDone(r)
    .filter((e) => !/^(FROM|ENV|ARG|LABEL)\b/i.test(e.instruction))
    .map((e) => `${e.instruction}: ${e.cached ? 'hit' : e.reason}`);
}

async function ok(rig: Rig, ...extra: string[]): Promise<CliResult> {
  const r = await build(rig, ...extra);
  assert.is(r.code, 0, r.stderr);
  return r;
}

const t = suite('explain misses e2e', { timeoutMs: 60_000 });
let rig: Rig;
t.beforeEach(() => {
  rig = new Rig('stratum-explain-');
});
t.afterEach(() => rig.cleanup());

t.test('a RUN inserted above: it is new, the unchanged steps below say "parent layer changed"', async () => {
  project(rig, LINES);
  await ok(rig);
  dockerfile(rig, [...LINES.slice(0, 2), 'RUN echo zero > zero.txt', ...LINES.slice(2)]);
  assert.equal(verdicts(await ok(rig)), [
    'WORKDIR /app: hit',
    'RUN echo zero > zero.txt: no earlier build of this step',
    'COPY deps.txt ./: parent layer changed',
    'RUN echo one > one.txt: parent layer changed',
    'RUN echo two > two.txt: parent layer changed',
    'COPY src/ ./src/: parent layer changed',
    'RUN cat src/*.txt > bundle.txt: parent layer changed',
  ]);
});

t.test('an ENV inserted above a COPY: the COPY hits, the RUN below names the variable', async () => {
  project(rig, LINES);
  await ok(rig);
  dockerfile(rig, [...LINES.slice(0, 5), 'ENV MODE=prod', ...LINES.slice(5)]);
  assert.equal(verdicts(await ok(rig)), [
    'WORKDIR /app: hit',
    'COPY deps.txt ./: hit',
    'RUN echo one > one.txt: hit',
    'RUN echo two > two.txt: hit',
    'COPY src/ ./src/: hit',
    'RUN cat src/*.txt > bundle.txt: var MODE changed',
  ]);
});

t.test('a line deleted: the steps below say "parent layer changed"', async () => {
  project(rig, LINES);
  await ok(rig);
  dockerfile(rig, LINES.filter((l) => l !== 'RUN echo one > one.txt'));
  assert.equal(verdicts(await ok(rig)), [
    'WORKDIR /app: hit',
    'COPY deps.txt ./: hit',
    'RUN echo two > two.txt: parent layer changed',
    'COPY src/ ./src/: parent layer changed',
    'RUN cat src/*.txt > bundle.txt: parent layer changed',
  ]);
});

t.test('two lines swapped: both say "parent layer changed", not "instruction changed"', async () => {
  project(rig, LINES);
  await ok(rig);
  dockerfile(rig, [...LINES.slice(0, 3), LINES[4]!, LINES[3]!, ...LINES.slice(5)]);
  assert.equal(verdicts(await ok(rig)), [
    'WORKDIR /app: hit',
    'COPY deps.txt ./: hit',
    'RUN echo two > two.txt: parent layer changed',
    'RUN echo one > one.txt: parent layer changed',
    'COPY src/ ./src/: parent layer changed',
    'RUN cat src/*.txt > bundle.txt: parent layer changed',
  ]);
});

t.test('one RUN edited: that one says "instruction changed", the ones below "parent layer changed"', async () => {
  project(rig, LINES);
  await ok(rig);
  dockerfile(rig, LINES.map((l) => (l === 'RUN echo one > one.txt' ? 'RUN echo uno > one.txt' : l)));
  assert.equal(verdicts(await ok(rig)), [
    'WORKDIR /app: hit',
    'COPY deps.txt ./: hit',
    'RUN echo uno > one.txt: instruction changed',
    'RUN echo two > two.txt: parent layer changed',
    'COPY src/ ./src/: parent layer changed',
    'RUN cat src/*.txt > bundle.txt: parent layer changed',
  ]);
});

t.test('a new step at the end: "no earlier build of this step", everything above hits', async () => {
  project(rig, LINES);
  await ok(rig);
  dockerfile(rig, [...LINES, 'RUN echo three > three.txt']);
  assert.equal(verdicts(await ok(rig)), [
    'WORKDIR /app: hit',
    'COPY deps.txt ./: hit',
    'RUN echo one > one.txt: hit',
    'RUN echo two > two.txt: hit',
    'COPY src/ ./src/: hit',
    'RUN cat src/*.txt > bundle.txt: hit',
    'RUN echo three > three.txt: no earlier build of this step',
  ]);
});

t.test('a line inserted and a file changed: the COPY names the file, the RUN the variable', async () => {
  project(rig, LINES);
  await ok(rig);
  dockerfile(rig, [...LINES.slice(0, 5), 'ENV MODE=prod', ...LINES.slice(5)]);
  rig.write({ 'ctx/src/a.txt': 'A2\n' });
  assert.equal(verdicts(await ok(rig)), [
    'WORKDIR /app: hit',
    'COPY deps.txt ./: hit',
    'RUN echo one > one.txt: hit',
    'RUN echo two > two.txt: hit',
    'COPY src/ ./src/: src/a.txt changed',
    'RUN cat src/*.txt > bundle.txt: var MODE changed',
  ]);
});

t.test('a line inserted above a changed COPY: the file is named, not the parent', async () => {
  project(rig, LINES);
  await ok(rig);
  dockerfile(rig, [...LINES.slice(0, 5), 'RUN echo extra > extra.txt', ...LINES.slice(5)]);
  rig.write({ 'ctx/src/b.txt': 'B2\n' });
  assert.equal(verdicts(await ok(rig)), [
    'WORKDIR /app: hit',
    'COPY deps.txt ./: hit',
    'RUN echo one > one.txt: hit',
    'RUN echo two > two.txt: hit',
    'RUN echo extra > extra.txt: no earlier build of this step',
    'COPY src/ ./src/: src/b.txt changed',
    'RUN cat src/*.txt > bundle.txt: parent layer changed',
  ]);
});

const ARG_LINES = ['FROM scratch', 'ARG VERSION=1', 'WORKDIR /app', 'RUN echo "v$VERSION" > version.txt', 'COPY src/ ./src/', 'RUN cat src/*.txt > bundle.txt'];

t.test('a build arg changed with a line inserted above: the RUN names the variable, later steps the parent', async () => {
  project(rig, ARG_LINES);
  await ok(rig);
  dockerfile(rig, [...ARG_LINES.slice(0, 3), 'RUN echo zero > zero.txt', ...ARG_LINES.slice(3)]);
  assert.equal(verdicts(await ok(rig, '--build-arg', 'VERSION=2')), [
    'WORKDIR /app: hit',
    'RUN echo zero > zero.txt: no earlier build of this step',
    'RUN echo "v$VERSION" > version.txt: var VERSION changed',
    'COPY src/ ./src/: parent layer changed',
    'RUN cat src/*.txt > bundle.txt: var VERSION changed',
  ]);
});

const STAGES = ['FROM scratch AS build', 'WORKDIR /b', 'COPY src/ ./src/', 'RUN cat src/*.txt > out.txt', 'FROM scratch AS app', 'COPY --from=build /b/out.txt /out.txt', 'RUN cat /dev/null > done.txt'];

t.test('a stage renamed: its steps are found by position, the file change is named', async () => {
  project(rig, STAGES);
  await ok(rig);
  dockerfile(rig, STAGES.map((l) => l.replace('AS build', 'AS compile').replace('--from=build', '--from=compile')));
  rig.write({ 'ctx/src/a.txt': 'A2\n' });
  assert.equal(verdicts(await ok(rig)), [
    'WORKDIR /b: hit',
    'COPY src/ ./src/: src/a.txt changed',
    'RUN cat src/*.txt > out.txt: parent layer changed',
    'COPY --from=compile /b/out.txt /out.txt: source stage changed',
    'RUN cat /dev/null > done.txt: parent layer changed',
  ]);
});

t.test('a stage inserted above: the other stages keep their history by name', async () => {
  project(rig, STAGES);
  await ok(rig);
  dockerfile(rig, ['FROM scratch AS tools', 'RUN echo t > t.txt', ...STAGES]);
  rig.write({ 'ctx/src/b.txt': 'B2\n' });
  const r = await ok(rig, '--target', 'app');
  assert.equal(verdicts(r), [
    'WORKDIR /b: hit',
    'COPY src/ ./src/: src/b.txt changed',
    'RUN cat src/*.txt > out.txt: parent layer changed',
    'COPY --from=build /b/out.txt /out.txt: source stage changed',
    'RUN cat /dev/null > done.txt: parent layer changed',
  ]);
});

t.test('after a failed build: steps that ran are explained against it, the failed one against the last build that ran it', async () => {
  project(rig, LINES);
  await ok(rig);
  rig.write({ 'ctx/src/a.txt': 'A2\n' });
  dockerfile(rig, LINES.map((l) => (l.startsWith('RUN cat') ? 'RUN cat src/*.txt > bundle.txt && exit 3' : l)));
  const failed = await build(rig);
  assert.is(failed.code, 1, failed.stderr);
  rig.write({ 'ctx/src/b.txt': 'B2\n' });
  dockerfile(rig, LINES.map((l) => (l.startsWith('RUN cat') ? 'RUN cat src/*.txt > all.txt' : l)));
  assert.equal(verdicts(await ok(rig)), [
    'WORKDIR /app: hit',
    'COPY deps.txt ./: hit',
    'RUN echo one > one.txt: hit',
    'RUN echo two > two.txt: hit',
    'COPY src/ ./src/: src/b.txt changed',
    'RUN cat src/*.txt > all.txt: instruction changed',
  ]);
});

t.run();
