/**
 * Watch publishes every result that differs from what it last published, even when every
 * step is already cached: an edit undone back to content built before, or a failing edit
 * undone. (Issue: v1 → v2 → v1 used to leave v2 in the output.)
 */
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { suite, Rig } from './util/rig.js';
import { WatchSession, verdicts } from './util/watch-session.js';

const t = suite('watch publish', { timeoutMs: 90_000 });
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

const builds = (n: number) => (ev: unknown[]) => (ev as { type: string }[]).filter((e) => e.type === 'build-done').length >= n;

function watch(...extra: string[]): WatchSession {
  session = new WatchSession(['--cache-dir', rig.path('store'), '--debounce', '30', '--executor=host', ...extra, rig.path('ctx')]);
  return session;
}

t.test('undoing an edit to content built before publishes it again (all steps cached)', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nCOPY a.txt /\nRUN cp a.txt b.txt\n', 'ctx/a.txt': 'v1\n' });
  const w = watch('-o', `type=local,dest=${rig.path('out')}`);
  await w.waitFor('first build', builds(1));
  assert.is(rig.read('out/b.txt'), 'v1\n');
  writeFileSync(rig.path('ctx/a.txt'), 'v2\n');
  await w.waitFor('second build', builds(2));
  assert.is(rig.read('out/b.txt'), 'v2\n');
  writeFileSync(rig.path('ctx/a.txt'), 'v1\n');
  await w.waitFor('third build', builds(3));
  assert.is(verdicts(w.buildEvents(3)), 'HH', 'the undone edit hits the cache');
  assert.ok(w.builds()[2]!.ok);
  assert.is(rig.read('out/b.txt'), 'v1\n');
});

t.test('undoing a failing edit reports success again', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nCOPY s.sh /\nRUN sh s.sh\n', 'ctx/s.sh': 'echo good > r.txt\n' });
  const w = watch('-o', `type=local,dest=${rig.path('out')}`);
  await w.waitFor('first build', builds(1));
  assert.ok(w.builds()[0]!.ok);
  writeFileSync(rig.path('ctx/s.sh'), 'exit 3\n');
  await w.waitFor('a failed build', builds(2));
  assert.not.ok(w.builds()[1]!.ok);
  writeFileSync(rig.path('ctx/s.sh'), 'echo good > r.txt\n');
  await w.waitFor('a good build', builds(3));
  assert.ok(w.builds()[2]!.ok, 'the watcher no longer shows the failure');
  assert.is(rig.read('out/r.txt'), 'good\n');
});

t.run();
