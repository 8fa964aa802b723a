/** `stratum plan`: the JSON contract, cache predictions against the store, and errors. */
import * as assert from 'uvu/assert';
import { suite, Rig } from './util/rig.js';
import { runCli } from './util/cli.js';
import { resolveProgress } from '../cli/commands/build.js';

interface PlanJson {
  instructions: { instruction: string; line: number; args: string | string[] }[];
  stages: { name: string | null; base: string; needed: boolean; steps: { instruction: string; text: string; line: number; args: string | string[]; cached: boolean | null; reason: string | null }[] }[];
  note?: string;
}

const DOCKERFILE = `ARG BASE=scratch
FROM \${BASE} AS deps
WORKDIR /app
COPY deps.txt ./
RUN ["sh", "-c", "cp deps.txt installed.txt"]

FROM deps AS build
ARG NAME=world
ENV GREETING="hello \${NAME}"
COPY src/ ./src/
RUN echo $GREETING > out.txt

FROM scratch AS unused
COPY deps.txt /
`;

const t = suite('plan');
let rig: Rig;
t.beforeEach(() => {
  rig = new Rig();
  rig.write({ 'ctx/Dockerfile': DOCKERFILE, 'ctx/deps.txt': 'x\n', 'ctx/src/a.txt': 'a\n' });
});
t.afterEach(() => rig.cleanup());

const plan = async (...extra: string[]) => {
  const r = await runCli(['plan', '--format', 'json', '--cache-dir', rig.path('store'), ...extra, rig.path('ctx')]);
  assert.is(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as PlanJson;
};

t.test('lists every instruction as parsed, and the stages with expanded arguments', async () => {
  const p = await plan('--target', 'build');
  assert.equal(p.instructions[0], { instruction: 'ARG', line: 1, args: ['BASE=scratch'] });
  assert.equal(p.instructions[1], { instruction: 'FROM', line: 2, args: ['${BASE}', 'AS', 'deps'] });
  assert.equal(p.instructions.find((i) => i.line === 5)!.args, ['sh', '-c', 'cp deps.txt installed.txt'], 'exec form is an array');
  assert.is(p.instructions.find((i) => i.line === 11)!.args, 'echo $GREETING > out.txt', 'shell form is the command string');
  assert.equal(p.stages.map((s) => [s.name, s.base, s.needed]), [['deps', 'scratch', true], ['build', 'deps', true], ['unused', 'scratch', false]]);
  const env = p.stages[1]!.steps.find((s) => s.instruction === 'ENV')!;
  assert.equal(env.args, ['GREETING=hello world']);
  assert.is(env.text, 'ENV GREETING="hello ${NAME}"');
});

t.test('a stage mounted by RUN --mount=type=bind,from= is needed; one mounting a later stage is refused', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch AS tools\nCOPY deps.txt /t/\nFROM scratch AS other\nCOPY deps.txt /\nFROM scratch\nRUN --mount=type=bind,from=tools,source=/t,target=/t cat /t/deps.txt\n' });
  const p = await plan();
  assert.equal(p.stages.map((s) => [s.name, s.needed]), [['tools', true], ['other', false], [null, true]]);
  rig.write({ 'ctx/Dockerfile': 'FROM scratch AS a\nRUN --mount=type=bind,from=1,target=/x true\nFROM scratch AS b\nCOPY deps.txt /\n' });
  const r = await runCli(['plan', '--format', 'json', '--cache-dir', rig.path('store'), rig.path('ctx')]);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /Dockerfile:2:1: RUN --mount=from=1 refers to this stage or a later one/);
});

t.test('predicts hits and misses against the store, with reasons', async () => {
  // A store that exists but has never built this Dockerfile.
  await runCli(['build', '--progress=json', '--cache-dir', rig.path('store'), '--target', 'unused', rig.path('ctx')]);
  const cold = await plan('--target', 'build');
  const coldSteps = cold.stages[0]!.steps;
  // COPY and WORKDIR layers are computed without running anything, so each has its own reason…
  assert.equal(coldSteps.filter((s) => s.cached !== null).map((s) => [s.instruction, s.cached, s.reason]), [
    // FROM and metadata steps have no key: neither a hit nor a miss (cached null).
    ['WORKDIR', false, 'no earlier build of this step'],
    ['COPY', false, 'no earlier build of this step'],
    ['RUN', false, 'no earlier build of this step'],
  ]);
  // …while what follows a RUN that would run cannot be known before it runs.
  assert.match(cold.stages[1]!.steps.find((s) => s.instruction === 'COPY')!.reason!, 'runs after step 4');
  const b = await runCli(['build', '--progress=json', '--cache-dir', rig.path('store'), '--target', 'build', rig.path('ctx')]);
  assert.is(b.code, 0, b.stderr);
  const warm = await plan('--target', 'build');
  for (const s of warm.stages.slice(0, 2).flatMap((st) => st.steps)) {
    if (['RUN', 'COPY', 'WORKDIR'].includes(s.instruction)) assert.is(s.cached, true, s.text);
  }
  rig.write({ 'ctx/src/a.txt': 'changed\n' });
  const inc = await plan('--target', 'build');
  const steps = inc.stages[1]!.steps;
  assert.is(steps.find((s) => s.instruction === 'COPY')!.reason, 'src/a.txt changed');
  assert.is(steps.find((s) => s.instruction === 'RUN')!.reason, 'parent layer changed');
  assert.is(inc.stages[2]!.steps[1]!.cached, null, 'stages not needed are not predicted');
});

t.test('works without a store and says so', async () => {
  const p = await plan();
  assert.match(p.note!, 'no store');
});

t.test('a Dockerfile that does not parse exits 2 with the diagnostic', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nCOPY --frm=x a b\n' });
  const r = await runCli(['plan', '--cache-dir', rig.path('store'), rig.path('ctx')]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /Dockerfile:2:6/);
  assert.match(r.stderr, 'hint:');
});

t.test('an unknown --target names the stages', async () => {
  const r = await runCli(['plan', '--target', 'nope', '--cache-dir', rig.path('store'), rig.path('ctx')]);
  assert.is(r.code, 2);
  assert.match(r.stderr, 'target stage "nope" not found');
  assert.match(r.stderr, 'deps, build, unused');
});

t.test('a base image that is not in the store is reported, not fatal', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM node:20\nRUN echo hi\n' });
  const p = await plan();
  assert.match(p.note!, /node:20/);
});

t.test('--progress=auto is plain without a TTY and in CI; tty when asked', () => {
  const tty = { isTTY: true } as NodeJS.WriteStream;
  const pipe = { isTTY: false } as NodeJS.WriteStream;
  assert.is(resolveProgress('auto', pipe, {}), 'plain');
  assert.is(resolveProgress('auto', tty, {}), 'tty');
  assert.is(resolveProgress('auto', tty, { CI: 'true' }), 'plain');
  assert.is(resolveProgress('auto', tty, { CI: '0' }), 'tty');
  const env: NodeJS.ProcessEnv = { CI: 'true' };
  assert.is(resolveProgress('tty', pipe, env), 'tty');
  assert.is(env.CI, undefined, 'an explicit tty request clears CI before Ink loads');
  assert.is(resolveProgress('json', tty, {}), 'json');
});

t.test('usage errors exit 2 with a hint', async () => {
  const a = await runCli(['build', '--bogus']);
  assert.is(a.code, 2);
  assert.match(a.stderr, "Unknown option '--bogus'");
  const b = await runCli(['frobnicate']);
  assert.is(b.code, 2);
  assert.match(b.stderr, 'unknown command "frobnicate"');
  const c = await runCli(['build', '--progress=fancy', rig.path('ctx')]);
  assert.is(c.code, 2);
  const d = await runCli(['build', rig.path('does-not-exist')]);
  assert.is(d.code, 2);
  assert.match(d.stderr, 'does not exist');
});

t.run();
