/**
 * Watch mode end to end: `stratum watch --progress=json` runs as a child process on a temp
 * context; the test edits files and asserts on the next builds' events.
 */
import * as assert from 'uvu/assert';
import { execSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite, Rig } from './util/rig.js';
import { WatchSession, verdicts } from './util/watch-session.js';

const t = suite('watch e2e', { timeoutMs: 90_000 });
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

function watch(...extra: string[]): WatchSession {
  session = new WatchSession(['--cache-dir', rig.path('store'), '--debounce', '30', ...extra, rig.path('ctx')]);
  return session;
}

const builds = (n: number) => (ev: unknown[]) => (ev as { type: string }[]).filter((e) => e.type === 'build-done').length >= n;

t.test('an edit rebuilds exactly the steps after the first changed one', async () => {
  rig.write({
    'ctx/Dockerfile': 'FROM scratch\nCOPY deps.txt /\nRUN cp deps.txt installed.txt\nCOPY src/ /src/\nRUN cat src/* > bundle.txt\n',
    'ctx/deps.txt': 'x\n',
    'ctx/src/a.txt': 'A\n',
  });
  const w = watch('-o', rig.path('ctx/out'));
  await w.waitFor('first build', builds(1));
  assert.is(verdicts(w.buildEvents(1)), 'MMMM');
  writeFileSync(rig.path('ctx/src/a.txt'), 'A2\n');
  await w.waitFor('second build', builds(2));
  assert.is(verdicts(w.buildEvents(2)), 'HHMM');
  const change = w.events.find((e) => e.type === 'watch-change');
  assert.ok(change && change.type === 'watch-change');
  assert.equal(change.files, ['src/a.txt']);
  assert.is(change.fromStep, 4);
  const copy = w.buildEvents(2).find((e) => e.type === 'step-done' && e.instruction.startsWith('COPY src'));
  assert.ok(copy && copy.type === 'step-done' && copy.reason === 'src/a.txt changed');
  assert.is(rig.read('ctx/out/bundle.txt'), 'A2\n');
  // The output directory lives inside the context: publishing it must not trigger a rebuild.
  // A file no step reads, written after the publish, makes the watcher decide once more; had
  // it seen the output's files, they would be in that decision (or in one before it).
  const afterBuild2 = w.events.length;
  writeFileSync(rig.path('ctx/unread.txt'), 'u\n');
  const decision = await w.decision('the decision about unread.txt', afterBuild2);
  assert.equal(decision, { type: 'watch-skip', files: ['unread.txt'], reason: 'no key changed' }, 'only the sentinel was seen');
  assert.is(w.builds().length, 2, 'no rebuild loop from our own output');
});

t.test('a file saved while a build copies it cancels that build (no failure shown), and the next build has the last save', async () => {
  const big = (c: string) => Buffer.alloc(48 << 20, c);
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nCOPY big.bin /\n' });
  writeFileSync(rig.path('ctx/big.bin'), big('a'));
  // A long debounce: the watcher's own reaction to the second save comes well after the copy
  // has found it, so the copy's ECHANGED is what ends the build.
  const w = watch('--debounce', '1500', '-o', rig.path('out'));
  await w.waitFor('first build', builds(1));
  const from = w.events.length;
  const c = big('c');
  writeFileSync(rig.path('ctx/big.bin'), big('b'));
  // The copy is one synchronous loop, so its events reach us only after it: its temp file in
  // the store, growing, says it is under way.
  const tmp = rig.path('store/tmp');
  const copying = await new Promise<boolean>((resolve) => {
    const deadline = Date.now() + 20_000;
    const iv = setInterval(() => {
      for (const n of readdirSync(tmp)) {
        if ((statSync(join(tmp, n), { throwIfNoEntry: false })?.size ?? 0) > 0) {
          clearInterval(iv);
          return resolve(true);
        }
      }
      if (Date.now() > deadline) {
        clearInterval(iv);
        resolve(false);
      }
    }, 1);
  });
  assert.ok(copying, 'the second save was being copied');
  writeFileSync(rig.path('ctx/big.bin'), c);
  await w.waitFor('the build after the third save', builds(3), 30_000);
  const [, second, third] = w.builds();
  assert.ok(second!.cancelled && second!.error === undefined, JSON.stringify(second));
  assert.ok(third!.ok, JSON.stringify(third));
  assert.not.ok(w.events.some((e) => e.type === 'step-failed'), 'no step shown as failed');
  assert.ok(w.events.slice(from).some((e) => e.type === 'step-cancelled'));
  const out = readFileSync(rig.path('out/big.bin'));
  assert.ok(out.length === 48 << 20 && out[0] === 'c'.charCodeAt(0) && out[out.length - 1] === 'c'.charCodeAt(0), 'the last save is built');
});

t.test('a second write within chokidar\'s 50 ms change throttle is still built (the watcher re-checks what it was told of)', async () => {
  rig.write({
    'ctx/Dockerfile': 'FROM scratch\nCOPY src/ /src/\nRUN cat src/a.txt > seen.txt\n',
    'ctx/src/a.txt': 'A0\n',
  });
  const w = watch('-o', rig.path('ctx/out'));
  await w.waitFor('first build', builds(1));
  // chokidar drops a path's change events for 50 ms after one it reported: the second write
  // (same size, so only its content tells it apart) comes inside that window, after the
  // watcher has read the first.
  writeFileSync(rig.path('ctx/src/a.txt'), 'A1\n');
  await new Promise((r) => setTimeout(r, 20));
  writeFileSync(rig.path('ctx/src/a.txt'), 'A2\n');
  await w.waitFor('the last write built and published', () => {
    try {
      return rig.read('ctx/out/seen.txt') === 'A2\n';
    } catch {
      return false;
    }
  }, 10_000);
  await w.waitFor('a successful build after it', (ev) => (ev as { type: string; ok?: boolean }[]).filter((e) => e.type === 'build-done').at(-1)?.ok === true, 10_000);
  // Before the re-check, the build keyed on the first write found the second one while
  // copying: it failed rather than store a layer under the wrong key; the re-check rebuilt.
  assert.is(rig.read('ctx/out/src/a.txt'), 'A2\n');
});

// A duration no other test file uses: files run two at a time and ps sees them all.
const sleeper = `sleep 30.${process.pid}`;
t.test('added, deleted and renamed files, a new directory and an editor\'s atomic save are all built', async () => {
  rig.write({
    'ctx/Dockerfile': 'FROM scratch\nCOPY src/ /src/\nRUN find src -type f | LC_ALL=C sort > list.txt && cat src/a.txt >> list.txt\n',
    'ctx/src/a.txt': 'A0\n',
    'ctx/src/old.txt': 'old\n',
    'ctx/src/d/x.txt': 'x\n',
  });
  const w = watch('-o', rig.path('ctx/out'));
  await w.waitFor('first build', builds(1));
  assert.is(rig.read('ctx/out/list.txt'), 'src/a.txt\nsrc/d/x.txt\nsrc/old.txt\nA0\n');
  // The watcher's reader keeps every directory's listing between builds: each of these must
  // reach the listing it changes.
  mkdirSync(rig.path('ctx/src/new/deep'), { recursive: true });
  writeFileSync(rig.path('ctx/src/new/deep/b.txt'), 'b\n');
  rmSync(rig.path('ctx/src/old.txt'));
  renameSync(rig.path('ctx/src/d/x.txt'), rig.path('ctx/src/d/y.txt'));
  writeFileSync(rig.path('ctx/src/.a.txt.swp'), 'A1\n');
  renameSync(rig.path('ctx/src/.a.txt.swp'), rig.path('ctx/src/a.txt'));
  const want = 'src/a.txt\nsrc/d/y.txt\nsrc/new/deep/b.txt\nA1\n';
  await w.waitFor('the changes built and published', () => {
    try {
      return rig.read('ctx/out/list.txt') === want;
    } catch {
      return false;
    }
  }, 15_000);
  assert.is(rig.read('ctx/out/src/new/deep/b.txt'), 'b\n');
});

t.test('a change to the running step\'s inputs cancels it and a new build completes', async () => {
  rig.write({
    'ctx/Dockerfile': `FROM scratch\nCOPY mode.txt /\nRUN echo "run $(cat mode.txt)"; if grep -q slow mode.txt; then ${sleeper}; fi\n`,
    'ctx/mode.txt': 'slow\n',
  });
  const w = watch();
  await w.waitFor('the slow RUN to start', (ev) => ev.some((e) => e.type === 'step-log' && e.line === 'run slow'));
  writeFileSync(rig.path('ctx/mode.txt'), 'fast\n');
  await w.waitFor('a completed build', (ev) => ev.some((e) => e.type === 'build-done' && e.ok));
  assert.ok(w.events.some((e) => e.type === 'step-cancelled'), 'the stale RUN was cancelled');
  const first = w.builds()[0]!;
  assert.ok(first.cancelled);
  assert.ok(w.events.some((e) => e.type === 'step-log' && e.line === 'run fast'));
  assert.not.match(execSync('ps -eo args').toString(), sleeper, 'the cancelled process group is gone');
});

t.test('a change that does not touch the running step lets it finish', async () => {
  rig.write({
    'ctx/Dockerfile': 'FROM scratch\nCOPY a.txt /\nRUN echo begin && sleep 1.5 && echo end\nCOPY b.txt /\n',
    'ctx/a.txt': 'a\n',
    'ctx/b.txt': 'b\n',
  });
  const w = watch('-o', rig.path('out'));
  await w.waitFor('the RUN to start', (ev) => ev.some((e) => e.type === 'step-log' && e.line === 'begin'));
  writeFileSync(rig.path('ctx/b.txt'), 'b2\n');
  await w.waitFor('the first build', builds(1));
  assert.not.ok(w.events.some((e) => e.type === 'step-cancelled'), 'the RUN was not cancelled');
  assert.ok(w.builds()[0]!.ok);
  assert.ok(w.buildEvents(1).some((e) => e.type === 'step-log' && e.line === 'end'));
  // The COPY after the RUN read b.txt after the edit, so the result is already current: the
  // change is re-keyed once the build ends, no key differs, and no second build runs.
  assert.is(rig.read('out/b.txt'), 'b2\n');
  const decision = await w.decision('the decision about b.txt after the build', w.events.indexOf(w.builds()[0]!));
  assert.equal(decision, { type: 'watch-skip', files: ['b.txt'], reason: 'no key changed' }, 'no redundant rebuild');
  assert.is(w.builds().length, 1);
  assert.is(w.events.filter((e) => e.type === 'step-log' && e.line === 'begin').length, 1);
});

t.test('a failing step shows its error, and a fix recovers', async () => {
  rig.write({
    'ctx/Dockerfile': 'FROM scratch\nCOPY script.sh /\nRUN sh script.sh\n',
    'ctx/script.sh': 'echo broken >&2; exit 3\n',
  });
  const w = watch();
  await w.waitFor('a failed build', builds(1));
  assert.not.ok(w.builds()[0]!.ok);
  const failed = w.events.find((e) => e.type === 'step-failed');
  assert.ok(failed && failed.type === 'step-failed' && failed.logTail.includes('broken') && failed.exitCode === 3);
  writeFileSync(rig.path('ctx/script.sh'), 'echo fixed\n');
  await w.waitFor('a good build', builds(2));
  assert.ok(w.builds()[1]!.ok);
  assert.is(w.child.exitCode, null, 'the watcher keeps running after a failure');
});

t.test('editing the Dockerfile re-plans', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nCOPY a.txt /\n', 'ctx/a.txt': 'a\n' });
  const w = watch();
  await w.waitFor('first build', builds(1));
  writeFileSync(rig.path('ctx/Dockerfile'), 'FROM scratch\nCOPY a.txt /\nRUN echo replanned\n');
  await w.waitFor('second build', builds(2));
  assert.ok(w.buildEvents(2).some((e) => e.type === 'step-log' && e.line === 'replanned'));
  const change = w.events.find((e) => e.type === 'watch-change');
  assert.ok(change && change.type === 'watch-change' && change.dockerfile === true);
  assert.is(verdicts(w.buildEvents(2)), 'HM');
});

t.test('saving a file without changing it does not rebuild', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nCOPY a.txt c.txt /\n', 'ctx/a.txt': 'a\n', 'ctx/c.txt': 'c\n' });
  const w = watch();
  await w.waitFor('first build', builds(1));
  const afterBuild1 = w.events.length;
  writeFileSync(rig.path('ctx/a.txt'), 'a\n');
  const decision = await w.decision('the decision about the unchanged save', afterBuild1);
  assert.equal(decision, { type: 'watch-skip', files: ['a.txt'], reason: 'no key changed' });
  assert.is(w.builds().length, 1);
  // The watcher is still listening: a real change builds. (Another file: chokidar drops a
  // second change event to one path within 50 ms of the first, and the skip comes sooner.)
  writeFileSync(rig.path('ctx/c.txt'), 'c2\n');
  await w.waitFor('a build for a real change', builds(2));
  assert.is(verdicts(w.buildEvents(2)), 'M', 'the real change missed');
});

// The re-key starts at the first change of a quiet period, before the debounce ends: changes
// after it started must make it stale, or the build would publish the first edit of a burst.
t.test('a burst of edits within the debounce builds the last one', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nCOPY src/ /src/\nRUN cat src/a.txt src/b.txt > out.txt\n', 'ctx/src/a.txt': 'a1\n', 'ctx/src/b.txt': 'b1\n' });
  session = new WatchSession(['--cache-dir', rig.path('store'), '--debounce', '700', '--executor=host', '-o', rig.path('out'), rig.path('ctx')]);
  const w = session;
  await w.waitFor('first build', builds(1));
  const pause = () => new Promise((r) => setTimeout(r, 120)); // past chokidar's 50 ms per-path throttle
  writeFileSync(rig.path('ctx/src/a.txt'), 'a2\n');
  await pause();
  writeFileSync(rig.path('ctx/src/b.txt'), 'b2\n');
  await pause();
  writeFileSync(rig.path('ctx/src/a.txt'), 'a3\n');
  await w.waitFor('a build with the last edit', (ev) => ev.some((e) => e.type === 'build-done' && e.ok) && rig.read('out/out.txt') === 'a3\nb2\n');
  // Settle: whatever the machine's speed, the last build is of the last content.
  await w.waitFor('the watcher idle', (ev) => ev[ev.length - 1]?.type === 'watch-state' && (ev[ev.length - 1] as { state: string }).state === 'watching');
  assert.is(rig.read('out/out.txt'), 'a3\nb2\n');
  const last = w.builds()[w.builds().length - 1]!;
  assert.ok(last.ok);
  const copy = w.events.filter((e) => e.type === 'step-done' && e.instruction.startsWith('COPY src')).pop();
  assert.ok(copy && copy.type === 'step-done' && !copy.cached && /src\/a\.txt/.test(copy.reason ?? ''), `the last COPY names the edited file (${copy && copy.type === 'step-done' ? copy.reason : ''})`);
});

t.test('Ctrl-C exits cleanly with code 0', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nCOPY a.txt /\n', 'ctx/a.txt': 'a\n' });
  const w = watch();
  await w.waitFor('first build', builds(1));
  const code = await w.stop();
  session = undefined;
  assert.is(code, 0);
});

t.run();
