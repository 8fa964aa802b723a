/**
 * Independent stages run at once, and a failing stage cancels the others, through the real
 * CLI. Concurrency is proven without timing: each stage waits (bounded) for a marker the
 * other writes, so they finish "together" only if both ran at the same time.
 */
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { suite, Rig } from './util/rig.js';
import { runCli, stepsDone, buildDone } from './util/cli.js';

const t = suite('solver e2e');
let rig: Rig;
t.beforeEach(() => {
  rig = new Rig();
});
t.afterEach(() => rig.cleanup());

// Wait up to 5 s for the other stage's marker: "together" when it appeared, else "alone".
const meet = (me: string, other: string) =>
  `RUN ["/bin/sh", "-c", "touch $M/${me}; i=0; while [ ! -e $M/${other} ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; if [ -e $M/${other} ]; then echo together > ${me}.txt; else echo alone > ${me}.txt; fi"]`;

const DOCKERFILE = `FROM scratch AS a
ARG M
${meet('a', 'b')}
FROM scratch AS b
ARG M
${meet('b', 'a')}
FROM scratch
COPY --from=a a.txt /
COPY --from=b b.txt /
`;

function build(jobs: string, markers: string) {
  return runCli(['build', '--progress=json', '--executor=host', '--jobs', jobs, '--build-arg', `M=${markers}`, '--cache-dir', rig.path('store'), '-o', `type=local,dest=${rig.path('out-' + jobs)}`, rig.path('ctx')]);
}

t.test('two independent stages run at the same time; the final stage waits for both', async () => {
  rig.write({ 'ctx/Dockerfile': DOCKERFILE, 'm2/.keep': '' });
  const r = await build('2', rig.path('m2'));
  assert.is(r.code, 0, r.stderr);
  assert.is(rig.read('out-2/a.txt'), 'together\n');
  assert.is(rig.read('out-2/b.txt'), 'together\n');
  // Events name their stage: both RUNs started before either finished.
  const order = r.events.filter((e) => (e.type === 'step-start' || e.type === 'step-done') && e.instruction.startsWith('RUN')).map((e) => e.type);
  assert.equal(order.slice(0, 2), ['step-start', 'step-start']);
});

t.test('--jobs 1 runs one stage at a time', async () => {
  rig.write({ 'ctx/Dockerfile': DOCKERFILE, 'm1/.keep': '' });
  const r = await build('1', rig.path('m1'));
  assert.is(r.code, 0, r.stderr);
  assert.is(rig.read('out-1/a.txt'), 'alone\n');
  assert.is(rig.read('out-1/b.txt'), 'together\n');
});

t.test('a failing stage cancels the stage running beside it and leaves no process', async () => {
  const tag = `sleep 29.${process.pid}`;
  rig.write({
    'ctx/Dockerfile': `FROM scratch AS slow
RUN ["/bin/sh", "-c", "${tag}"]
FROM scratch AS bad
RUN ["/bin/sh", "-c", "sleep 0.3; echo broken >&2; exit 3"]
FROM scratch
COPY --from=slow / /
COPY --from=bad / /
`,
  });
  const t0 = Date.now();
  const r = await runCli(['build', '--progress=json', '--executor=host', '--jobs', '2', '--cache-dir', rig.path('store'), rig.path('ctx')]);
  assert.is(r.code, 1, r.stderr);
  assert.ok(Date.now() - t0 < 25_000, 'the build did not wait for the 30 s sleep');
  const failed = r.events.find((e) => e.type === 'step-failed');
  assert.ok(failed && failed.type === 'step-failed' && failed.stage === 'bad', JSON.stringify(failed));
  assert.ok(r.events.some((e) => e.type === 'step-cancelled' && e.stage === 'slow'), 'the slow stage was cancelled');
  assert.not.ok(buildDone(r)?.ok);
  assert.is(stepsDone(r).filter((e) => e.instruction.startsWith('COPY')).length, 0);
  const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
  assert.not.ok(ps.includes(tag), 'no sleeper left behind');
});

t.run();
