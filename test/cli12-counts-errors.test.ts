/**
 * Issue 12, items 2 and 4: watch reports a Dockerfile error with its position in every
 * reporter, and metadata steps (FROM, ENV, CMD…) are neither hits nor misses anywhere.
 */
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { suite, Rig } from './util/rig.js';
import { WatchSession } from './util/watch-session.js';
import { runCli, stepsDone, buildDone, startCli } from './util/cli.js';

const t = suite('cli12 counts and errors', { timeoutMs: 90_000 });
let rig: Rig;
let session: WatchSession | undefined;
t.beforeEach(() => {
  rig = new Rig();
});
t.afterEach(async () => {
  await session?.stop();
  session = undefined;
  rig.cleanup();
});

const DF = 'FROM scratch\nENV A=1\nCOPY a.txt /\nLABEL x=y\nRUN cp a.txt b.txt\nCMD ["x"]\n';

t.test('metadata steps are neither hits nor misses, in step-done and build-done', async () => {
  rig.write({ 'ctx/Dockerfile': DF, 'ctx/a.txt': 'a\n' });
  const args = ['build', '--progress=json', '--cache-dir', rig.path('store'), rig.path('ctx')];
  const first = await runCli(args);
  assert.is(first.code, 0, first.stderr);
  const meta = stepsDone(first).filter((e) => e.metadata);
  assert.equal(meta.map((e) => e.instruction.split(' ')[0]), ['FROM', 'ENV', 'LABEL', 'CMD']);
  assert.ok(meta.every((e) => !e.cached));
  assert.equal([buildDone(first)!.hits, buildDone(first)!.misses], [0, 2]);
  const second = await runCli(args);
  assert.equal([buildDone(second)!.hits, buildDone(second)!.misses], [2, 0]);
  assert.is(stepsDone(second).filter((e) => e.cached).length, 2);
  const noCache = await runCli([...args, '--no-cache']);
  assert.is(stepsDone(noCache).filter((e) => e.cached).length, 0, 'no step is a hit under --no-cache');
  assert.equal([buildDone(noCache)!.hits, buildDone(noCache)!.misses], [0, 2]);
  const plain = await runCli(['build', '--progress=plain', '--no-cache', '--cache-dir', rig.path('store'), rig.path('ctx')]);
  assert.not.match(plain.stderr, /CACHED/);
});

t.test('watch: a Dockerfile error carries its position in JSON and prints as build does', async () => {
  rig.write({ 'ctx/Dockerfile': DF, 'ctx/a.txt': 'a\n' });
  session = new WatchSession(['--cache-dir', rig.path('store'), '--debounce', '30', rig.path('ctx')]);
  await session.waitFor('first build', () => session!.builds().length >= 1);
  writeFileSync(rig.path('ctx/Dockerfile'), 'FROM scratch\nRUUN make\n');
  await session.waitFor('failed build', () => session!.builds().length >= 2);
  const err = session.builds()[1]!.error!;
  assert.is(err.code, 'DF_UNKNOWN_INSTRUCTION');
  assert.match(err.file ?? '', /Dockerfile$/);
  assert.equal([err.line, err.column], [2, 1]);
  await session.waitFor('stderr', () => /RUUN make/.test(session!.stderr));
  assert.match(session.stderr, /error: .*Dockerfile:2:1: unknown instruction/);
  assert.match(session.stderr, /2 \| RUUN make\n\s+\| \^\^\^\^/);
});

t.test('watch --progress=plain prints the same diagnostic', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nRUUN make\n' });
  const { child, done } = startCli(['watch', '--progress=plain', '--cache-dir', rig.path('store'), rig.path('ctx')]);
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const deadline = Date.now() + 20_000;
  while (!/\^\^\^\^/.test(err) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  child.kill('SIGINT');
  await done;
  assert.match(err, /Dockerfile:2:1: unknown instruction "RUUN"/);
  assert.match(err, /2 \| RUUN make/);
});

t.run();
