/**
 * End-to-end: the real CLI builds real Dockerfiles in temp directories, with a fresh store.
 * Assertions are on the NDJSON event stream (`--progress=json`), the exit code, the output
 * directory and the store itself.
 */
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { suite, Rig } from './util/rig.js';
import { runCli, startCli, stepsDone, buildDone, type CliResult } from './util/cli.js';

const DOCKERFILE = `FROM scratch
WORKDIR /app
COPY deps.txt ./
RUN while read n; do mkdir -p vendor/$n; echo "$n" > vendor/$n/index; done < deps.txt
COPY src/ ./src/
RUN cat src/*.txt > bundle.txt && echo "bundled \${GREETING:-none}"
`;

function project(rig: Rig, dockerfile = DOCKERFILE): void {
  rig.write({
    'ctx/Dockerfile': dockerfile,
    'ctx/deps.txt': 'alpha\nbeta\n',
    'ctx/src/a.txt': 'A\n',
    'ctx/src/b.txt': 'B\n',
    'ctx/.dockerignore': 'src/*.tmp\n',
  });
}

function build(rig: Rig, ...extra: string[]): Promise<CliResult> {
  return runCli(['build', '--progress=json', '--cache-dir', rig.path('store'), ...extra, rig.path('ctx')]);
}

/** "H" for a hit, "M" for a miss, per step with a cache key (RUN/COPY/WORKDIR), from the
 *  verdict each step-start carries (so a step that then fails still counts). */
function pattern(r: CliResult): string {
  return r.events
    .filter((e) => e.type === 'step-start' && e.cached !== undefined)
    .map((e) => (e.type === 'step-start' && e.cached ? 'H' : 'M'))
    .join('');
}

function keysInStore(rig: Rig): number {
  const root = rig.path('store');
  let n = 0;
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.json')) n++;
    }
  };
  for (const name of existsSync(root) ? readdirSync(root) : []) if (name.startsWith('keys')) walk(join(root, name));
  return n;
}

const t = suite('build e2e', { timeoutMs: 60_000 });
let rig: Rig;
t.beforeEach(() => {
  rig = new Rig();
  project(rig);
});
t.afterEach(() => rig.cleanup());

t.test('cold build runs every step; a rebuild with no change hits every step', async () => {
  const cold = await build(rig, '-o', `type=local,dest=${rig.path('out')}`);
  assert.is(cold.code, 0, cold.stderr);
  assert.is(pattern(cold), 'MMMMM');
  const done = buildDone(cold)!;
  assert.ok(done.ok);
  assert.is(done.misses, 5);
  assert.is(rig.read('out/app/bundle.txt'), 'A\nB\n');
  assert.is(rig.read('out/app/vendor/beta/index'), 'beta\n');
  const warm = await build(rig, '-o', `type=local,dest=${rig.path('out')}`);
  assert.is(warm.code, 0, warm.stderr);
  assert.is(pattern(warm), 'HHHHH');
  assert.is(buildDone(warm)!.hits, 5);
  // Each hit saves what its step took in the cold build, and the build's total is their sum
  // (> 0: the RUN steps spawn a shell, which takes milliseconds).
  const coldMs = new Map(stepsDone(cold).filter((e) => !e.cached && !e.metadata).map((e) => [e.index, e.ms]));
  const saved = stepsDone(warm).filter((e) => coldMs.has(e.index));
  assert.equal(saved.map((e) => [e.index, e.savedMs]), saved.map((e) => [e.index, coldMs.get(e.index)]));
  const total = [...coldMs.values()].reduce((a, b) => a + b, 0);
  assert.ok(total > 0, 'the cold steps took time');
  assert.is(buildDone(warm)!.savedMs, total);
});

t.test('step-done events carry the documented fields', async () => {
  const r = await build(rig);
  const s = stepsDone(r).find((e) => e.instruction.startsWith('COPY src'))!;
  for (const f of ['index', 'total', 'stage', 'instruction', 'cached', 'layer', 'size', 'ms', 'reason']) assert.ok(f in s, `missing ${f}`);
  assert.is(s.total, 6);
  assert.is(s.size, 4);
  const meta = stepsDone(r).find((e) => e.instruction.startsWith('FROM'))!;
  assert.is(meta.layer, null);
  const bd = buildDone(r)!;
  for (const f of ['ok', 'hits', 'misses', 'ms', 'savedMs']) assert.ok(f in bd, `missing ${f}`);
});

t.test('touching every file (mtime only) still hits every step', async () => {
  await build(rig);
  const future = new Date(Date.now() + 60_000);
  for (const f of ['deps.txt', 'src/a.txt', 'src/b.txt', 'Dockerfile']) utimesSync(rig.path('ctx', f), future, future);
  const r = await build(rig);
  assert.is(pattern(r), 'HHHHH');
});

t.test('a change to a .dockerignored file hits', async () => {
  await build(rig);
  rig.write({ 'ctx/src/scratch.tmp': 'ignored' });
  const r = await build(rig);
  assert.is(pattern(r), 'HHHHH');
});

t.test('a content change rebuilds that COPY and every later step, and names the file', async () => {
  await build(rig);
  rig.write({ 'ctx/src/b.txt': 'B2\n' });
  const r = await build(rig, '-o', rig.path('out'));
  assert.is(pattern(r), 'HHHMM');
  const copy = stepsDone(r).find((e) => e.instruction.startsWith('COPY src'))!;
  assert.match(copy.reason!, 'src/b.txt changed');
  const run = stepsDone(r).at(-1)!;
  assert.is(run.reason, 'parent layer changed');
  assert.is(rig.read('out/app/bundle.txt'), 'A\nB2\n');
});

t.test('an added and a removed file are named in the miss reason', async () => {
  await build(rig);
  rig.write({ 'ctx/src/c.txt': 'C\n' });
  const { rmSync } = await import('node:fs');
  rmSync(rig.path('ctx/src/a.txt'));
  const r = await build(rig);
  const copy = stepsDone(r).find((e) => e.instruction.startsWith('COPY src'))!;
  assert.match(copy.reason!, 'src/c.txt added');
  assert.match(copy.reason!, 'src/a.txt removed');
});

t.test('a same-size change with the mtime restored is detected (ctime)', async () => {
  await build(rig);
  const p = rig.path('ctx/src/a.txt');
  const before = statSync(p);
  writeFileSync(p, 'Z\n'); // same size as 'A\n'
  utimesSync(p, before.atime, before.mtime);
  const r = await build(rig, '-o', rig.path('out'));
  assert.is(pattern(r), 'HHHMM');
  assert.is(rig.read('out/app/bundle.txt'), 'Z\nB\n');
});

t.test('--build-arg reaches the RUN environment and changes its key', async () => {
  project(rig, DOCKERFILE.replace('COPY src/', 'ARG GREETING=hello\nCOPY src/'));
  const a = await build(rig);
  assert.ok(a.events.some((e) => e.type === 'step-log' && e.line === 'bundled hello'), a.stdout);
  const b = await build(rig, '--build-arg', 'GREETING=bonjour');
  assert.ok(b.events.some((e) => e.type === 'step-log' && e.line === 'bundled bonjour'));
  assert.is(pattern(b), 'HHHHM');
  assert.match(stepsDone(b).at(-1)!.reason!, 'GREETING');
});

t.test('a RUN that reruns but makes a byte-identical layer lets the next COPY hit (early cut-off)', async () => {
  project(rig, `FROM scratch
WORKDIR /app
COPY deps.txt ./
ARG VERSION=1
RUN echo "building version $VERSION" && sort deps.txt | head -1 > first.txt
COPY src/ ./src/
`);
  await build(rig);
  // VERSION reaches the RUN's environment, so the RUN reruns; its output does not depend on it,
  // so its layer is byte-identical, the chain below the COPY is unchanged, and the COPY hits.
  const r = await build(rig, '--build-arg', 'VERSION=2');
  assert.is(pattern(r), 'HHMH');
  assert.ok(r.events.some((e) => e.type === 'step-log' && e.line === 'building version 2'));
  const run = stepsDone(r).find((e) => e.instruction.startsWith('RUN'))!;
  assert.is(run.reason, 'var VERSION changed');
});

t.test('files deleted by a RUN are absent from the output', async () => {
  project(rig, `FROM scratch
COPY src/ /src/
RUN rm src/a.txt && mkdir -p gone/deep && echo x > gone/deep/f
RUN rm -r gone
`);
  const r = await build(rig, '-o', rig.path('out'));
  assert.is(r.code, 0, r.stderr);
  assert.not.ok(rig.exists('out/src/a.txt'));
  assert.ok(rig.exists('out/src/b.txt'));
  assert.not.ok(rig.exists('out/gone'));
});

t.test('a failing RUN exits 1, shows the output tail, caches nothing, and fails again', async () => {
  project(rig, `FROM scratch
COPY deps.txt /
RUN echo about to fail && echo oops >&2 && exit 7
`);
  const keys0 = keysInStore(rig);
  const a = await build(rig);
  assert.is(a.code, 1);
  const failed = a.events.find((e) => e.type === 'step-failed');
  assert.ok(failed && failed.type === 'step-failed');
  assert.equal(failed.logTail, ['about to fail', 'oops']);
  assert.is(failed.exitCode, 7);
  assert.match(a.stderr, 'RUN exited with code 7');
  const keysAfter = keysInStore(rig);
  assert.is(keysAfter, keys0 + 1, 'only the COPY key is stored');
  const b = await build(rig);
  assert.is(b.code, 1);
  assert.is(pattern(b), 'HM');
});

t.test('COPY of ../x is refused with the path and a hint', async () => {
  rig.write({ 'secret.txt': 'no' });
  project(rig, 'FROM scratch\nCOPY ../secret.txt /\n');
  const r = await build(rig);
  assert.is(r.code, 2);
  assert.match(r.stderr, '"../secret.txt" is outside the build context');
  assert.match(r.stderr, 'hint:');
  assert.not.match(r.stderr, '    at ');
});

t.test('COPY through a symlink that points out of the context is refused', async () => {
  rig.write({ 'outside/secret.txt': 'no' });
  symlinkSync(rig.path('outside'), rig.path('ctx/link'));
  project(rig, 'FROM scratch\nCOPY link/secret.txt /\n');
  const r = await build(rig);
  assert.is(r.code, 2);
  assert.match(r.stderr, 'outside the build context');
});

t.test('a symlink inside the context is copied as a link', async () => {
  symlinkSync('a.txt', rig.path('ctx/src/link.txt'));
  project(rig, 'FROM scratch\nCOPY src/ /src/\n');
  const r = await build(rig, '-o', rig.path('out'));
  assert.is(r.code, 0, r.stderr);
  const { readlinkSync } = await import('node:fs');
  assert.is(readlinkSync(rig.path('out/src/link.txt')), 'a.txt');
});

t.test('Ctrl-C during a RUN kills it and leaves no key for it in the store', async () => {
  project(rig, `FROM scratch
COPY deps.txt /
RUN echo started && sleep 30 && echo never > /proc/self/fd/1
`);
  const { child, done } = startCli(['build', '--progress=json', '--cache-dir', rig.path('store'), rig.path('ctx')]);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (out.includes('"line":"started"')) {
        clearInterval(timer);
        resolve();
      }
    }, 20);
    setTimeout(() => reject(new Error('RUN never started')), 20_000);
  });
  const keysDuring = keysInStore(rig);
  child.kill('SIGINT');
  const r = await done;
  assert.is(r.code, 130);
  assert.is(keysInStore(rig), keysDuring, 'the cancelled RUN committed nothing');
  assert.ok(r.events.some((e) => e.type === 'step-cancelled'));
  // The RUN's process group is gone: no `sleep 30` survives.
  const { execSync } = await import('node:child_process');
  const ps = execSync('ps -eo args').toString();
  assert.not.match(ps, 'sleep 30 && echo never');
});

t.test('a Dockerfile that does not parse exits 2 with file:line:col and a hint', async () => {
  project(rig, 'FROM scratch\nRUUN echo hi\n');
  const r = await build(rig);
  assert.is(r.code, 2);
  assert.match(r.stderr, /Dockerfile:2:1/);
  assert.match(r.stderr, 'hint:');
});

t.test('multi-stage: COPY --from a stage, --target builds only what it needs', async () => {
  project(rig, `FROM scratch AS one
COPY src/a.txt /a.txt
RUN echo one > one.txt

FROM scratch AS two
COPY src/b.txt /b.txt
RUN echo two-ran

FROM scratch AS final
COPY --from=one /one.txt /got/one.txt
COPY --from=one /a.txt /got/
`);
  const r = await build(rig, '-o', rig.path('out'));
  assert.is(r.code, 0, r.stderr);
  assert.is(rig.read('out/got/one.txt'), 'one\n');
  assert.is(rig.read('out/got/a.txt'), 'A\n');
  assert.not.ok(r.events.some((e) => e.type === 'step-log' && e.line === 'two-ran'), 'stage two is not needed');
  const t2 = await build(rig, '--target', 'two');
  assert.ok(t2.events.some((e) => e.type === 'step-log' && e.line === 'two-ran'));
});

t.test('the output directory is replaced whole and a stranger directory is never wiped', async () => {
  mkdirSync(rig.path('mine'));
  writeFileSync(rig.path('mine/precious.txt'), 'keep me');
  const r = await build(rig, '-o', rig.path('mine'));
  assert.is(r.code, 2);
  assert.match(r.stderr, 'not empty and was not written by stratum');
  assert.is(readFileSync(rig.path('mine/precious.txt'), 'utf8'), 'keep me');
});

t.run();
