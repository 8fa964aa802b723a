/**
 * What users see when something is wrong: the real CLI as a child process, asserting the exit
 * code, the exact stderr text (`error: …` / `hint: …`, never a stack trace) and, for JSON
 * progress, the build-done event that still ends the stream.
 */
import * as assert from 'uvu/assert';
import { chmodSync, existsSync, readdirSync } from 'node:fs';
import { suite, Rig } from './util/rig.js';
import { runCli, startCli, buildDone, type CliResult } from './util/cli.js';

const t = suite('errors-e2e');

let rig: Rig;
t.beforeEach(() => {
  rig = new Rig();
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nCOPY a.txt /a.txt\n', 'ctx/a.txt': 'A\n' });
});
t.afterEach(() => rig.cleanup());

function build(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(['build', '--progress=json', '--cache-dir', rig.path('store'), ...args, rig.path('ctx')], { env });
}

/** No `    at file.js:1:2` lines, no "internal error". */
function noStack(r: CliResult): void {
  assert.not.match(r.stderr, /^\s+at /m, 'a stack trace');
  assert.not.match(r.stderr, /internal error/);
}

/** A failed build that ran no step: build-done ok:false carrying the error, nothing before it but warnings. */
function failedBeforeAnyStep(r: CliResult, message: string): void {
  const done = buildDone(r);
  assert.ok(done, `a build-done event (stdout: ${r.stdout})`);
  assert.is(done.ok, false);
  assert.is(done.error?.message, message);
  assert.equal(
    r.events.filter((e) => e.type === 'step-start').map((e) => e.type),
    [],
    'no step ran',
  );
}

const envCases: [name: string, value: string, stderr: string][] = [
  [
    'SOURCE_DATE_EPOCH',
    'abc',
    'error: environment variable SOURCE_DATE_EPOCH="abc" is invalid: expected whole seconds since 1970-01-01 UTC (a non-negative integer)\n' +
      'hint: set it to SOURCE_DATE_EPOCH=$(git log -1 --format=%ct), or unset it (unset SOURCE_DATE_EPOCH)\n',
  ],
  ['SOURCE_DATE_EPOCH', '-5', 'error: environment variable SOURCE_DATE_EPOCH="-5" is invalid: expected whole seconds since 1970-01-01 UTC (a non-negative integer)\nhint: set it to SOURCE_DATE_EPOCH=$(git log -1 --format=%ct), or unset it (unset SOURCE_DATE_EPOCH)\n'],
  ['STRATUM_JOBS', '0', 'error: environment variable STRATUM_JOBS="0" is invalid: expected a positive integer\nhint: set it to STRATUM_JOBS=4, or unset it (unset STRATUM_JOBS)\n'],
  ['STRATUM_EXECUTOR', 'docker', 'error: environment variable STRATUM_EXECUTOR="docker" is invalid: expected "sandbox" or "host"\nhint: set it to STRATUM_EXECUTOR=sandbox, or unset it (unset STRATUM_EXECUTOR)\n'],
  ['STRATUM_STORE_FAULT', 'sometimes', 'error: environment variable STRATUM_STORE_FAULT="sometimes" is invalid: expected kill@N or throw@N with N ≥ 1 (a test hook)\nhint: set it to STRATUM_STORE_FAULT=throw@3, or unset it (unset STRATUM_STORE_FAULT)\n'],
];

for (const [name, value, stderr] of envCases) {
  t.test(`build: ${name}=${value} is a usage error with build-done ok:false`, async () => {
    const r = await build([], { [name]: value });
    assert.is(r.code, 2, r.stderr);
    assert.is(r.stderr, stderr);
    noStack(r);
    failedBeforeAnyStep(r, stderr.split('\n')[0]!.slice('error: '.length));
  });
}

t.test('every other command checks the environment before it runs', async () => {
  const r = await runCli(['images', '--cache-dir', rig.path('store')], { env: { STRATUM_JOBS: 'many' } });
  assert.is(r.code, 2);
  assert.is(r.stderr, 'error: environment variable STRATUM_JOBS="many" is invalid: expected a positive integer\nhint: set it to STRATUM_JOBS=4, or unset it (unset STRATUM_JOBS)\n');
});

t.test('a valid SOURCE_DATE_EPOCH sets the image created time', async () => {
  const r = await build(['-t', 'epoch:1'], { SOURCE_DATE_EPOCH: '1700000000' });
  assert.is(r.code, 0, r.stderr);
  const inspect = await runCli(['inspect', 'epoch:1', '--cache-dir', rig.path('store')]);
  assert.match(inspect.stdout, '2023-11-14T22:13:20Z');
});

t.test('--cache-dir that is a file: usage error before any step', async () => {
  rig.write({ 'afile': 'x' });
  const r = await runCli(['build', '--progress=json', '--cache-dir', rig.path('afile'), rig.path('ctx')]);
  assert.is(r.code, 2, r.stderr);
  assert.is(r.stderr, `error: the store ${rig.path('afile')} is not a directory\nhint: pass --cache-dir a directory (it is created if missing), or fix STRATUM_CACHE_DIR\n`);
  noStack(r);
  failedBeforeAnyStep(r, `the store ${rig.path('afile')} is not a directory`);
  // The store commands, plan and watch say the same (watch before it starts watching).
  for (const args of [['images'], ['du'], ['plan', rig.path('ctx')], ['watch', '--progress=plain', rig.path('ctx')]]) {
    const other = await runCli([...args, '--cache-dir', rig.path('afile')]);
    assert.is(other.code, 2, args[0]);
    assert.is(other.stderr, r.stderr, args[0]);
  }
});

// An unwritable store that is unwritable for root too: root ignores file modes, so the store
// is placed below a regular file, which no user can create a directory in (ENOTDIR).
t.test('an unwritable store (below a regular file): I/O error with a hint, exit 3', async () => {
  rig.write({ 'afile': 'x' });
  const store = rig.path('afile', 'store');
  const r = await runCli(['build', '--progress=json', '--cache-dir', store, rig.path('ctx')]);
  assert.is(r.code, 3, r.stderr);
  assert.is(r.stderr, `error: mkdir ${store}: not a directory (ENOTDIR)\nhint: a component of the path is a file, not a directory: fix the path, or move the file away\n`);
  noStack(r);
  failedBeforeAnyStep(r, `mkdir ${store}: not a directory (ENOTDIR)`);
});

t.test('an unwritable store directory (mode 0555; skipped as root, which ignores modes)', async () => {
  if (process.getuid?.() === 0) return;
  rig.write({ 'ro/.keep': '' });
  chmodSync(rig.path('ro'), 0o555);
  try {
    const store = rig.path('ro', 'store');
    const r = await runCli(['build', '--progress=json', '--cache-dir', store, rig.path('ctx')]);
    assert.is(r.code, 3, r.stderr);
    assert.is(r.stderr, `error: mkdir ${store}: permission denied (EACCES)\nhint: permission denied: check the owner and mode of the path, or choose another --cache-dir\n`);
    noStack(r);
  } finally {
    chmodSync(rig.path('ro'), 0o755);
  }
});

t.test('an invalid -t is refused before any step runs', async () => {
  const r = await build(['-t', 'Web App:dev']);
  assert.is(r.code, 2, r.stderr);
  assert.is(r.stderr, 'error: invalid image name "Web App:dev" (repository names must be lower-case)\nhint: image names look like webapp:dev or registry.example/team/app:1.0\n');
  noStack(r);
  failedBeforeAnyStep(r, 'invalid image name "Web App:dev" (repository names must be lower-case)');
  assert.not.ok(existsSync(rig.path('store', 'keys')) && readdirSync(rig.path('store', 'keys')).length, 'nothing was built');
});

t.test('-o is checked before any step runs: a file as a local dest, a dest below a file', async () => {
  rig.write({ 'afile': 'x' });
  const local = await build(['-o', rig.path('afile')]);
  assert.is(local.code, 2, local.stderr);
  assert.is(local.stderr, `error: output ${rig.path('afile')} exists and is not a directory\nhint: choose another dest= for -o type=local\n`);
  noStack(local);
  failedBeforeAnyStep(local, `output ${rig.path('afile')} exists and is not a directory`);

  const tar = await build(['-o', `type=oci,dest=${rig.path('afile', 'img.tar')}`]);
  assert.is(tar.code, 2, tar.stderr);
  assert.is(tar.stderr, `error: cannot create output ${rig.path('afile', 'img.tar')}: ${rig.path('afile')} is not a directory\nhint: choose a dest= whose parent is a directory\n`);
  failedBeforeAnyStep(tar, `cannot create output ${rig.path('afile', 'img.tar')}: ${rig.path('afile')} is not a directory`);

  rig.write({ 'adir/x': 'x' });
  const oci = await build(['-o', `type=oci,dest=${rig.path('adir')},tar=true`]);
  assert.is(oci.code, 2, oci.stderr);
  assert.is(oci.stderr, `error: output ${rig.path('adir')} is a directory, but the export is a tar file\nhint: use tar=false for an OCI layout directory, or choose a file name ending in .tar\n`);
  failedBeforeAnyStep(oci, `output ${rig.path('adir')} is a directory, but the export is a tar file`);
});

t.test('a Dockerfile error: position, the line underlined, the hint (what the user sees)', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\n\nRUUN make\n' });
  // Run in the context directory: the path is shown relative to it, as compilers print it.
  const r = await runCli(['build', '--progress=json', '--cache-dir', rig.path('store'), '.'], { cwd: rig.path('ctx') });
  assert.is(r.code, 2);
  const file = 'Dockerfile';
  assert.is(r.stderr, `error: ${file}:3:1: unknown instruction "RUUN"\n3 | RUUN make\n  | ^^^^\nhint: did you mean RUN?\n`);
  assert.is(buildDone(r)?.ok, false);
});

t.test('watch prints a failed build\'s error as build does', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nRUUN make\n' });
  const { child, done } = startCli(['watch', '--progress=plain', '--cache-dir', rig.path('store'), rig.path('ctx')]);
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  for (let i = 0; i < 200 && !err.includes('watch: waiting'); i++) await new Promise((r) => setTimeout(r, 50));
  child.kill('SIGINT');
  const r = await done;
  // The same diagnostic as build (issue 12 item 2): position, the line underlined, the hint.
  assert.match(r.stderr, /error: .*Dockerfile:2:1: unknown instruction "RUUN"\n2 \| RUUN make\n  \| \^\^\^\^\nhint: did you mean RUN\?\n/);
  noStack(r);
});

t.test('EPIPE: a reader that stops early (| head) ends stratum quietly', async () => {
  // Enough output that it cannot all sit in the pipe before the reader goes away.
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\n' + Array.from({ length: 3000 }, (_, i) => `LABEL k${i}=v${i}`).join('\n') + '\n' });
  const { child, done } = startCli(['plan', '--format', 'json', '--cache-dir', rig.path('store'), rig.path('ctx')]);
  child.stdout!.destroy();
  const r = await done;
  assert.is(r.stderr, '');
  assert.is(r.code, 141);
});

t.run();
