/**
 * The test rig tests itself: small uvu files, written to a temp dir at test time and importing
 * the compiled rig, fail in the ways the rig must not swallow. Each runs as a real process, as
 * test/run.mjs runs a suite, and the test reads its exit code and output; then test/run.mjs
 * itself runs them and must count them as failures.
 */
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { suite, Rig } from './util/rig.js';

const RIG = pathToFileURL(fileURLToPath(new URL('./util/rig.js', import.meta.url))).href;
const RUNNER = fileURLToPath(new URL('../../test/run.mjs', import.meta.url));

const t = suite('test rig', { timeoutMs: 60_000 });
let rig: Rig;
t.beforeEach(() => {
  rig = new Rig();
  rig.write({ 'package.json': '{"type":"module"}\n' });
});
t.afterEach(() => rig.cleanup());

/** Files that must fail, by name (run.mjs picks up `*.test.js`). `${dir}` is the temp dir. */
function cases(dir: string): Record<string, string> {
  const childCode = `setTimeout(() => require('fs').writeFileSync(${JSON.stringify(dir + '/child-marker')}, 'x'), 1500)`;
  const head = `import { suite } from ${JSON.stringify(RIG)};\nimport { writeFileSync } from 'node:fs';\nimport { spawn } from 'node:child_process';\n`;
  return {
    'case-after.test.js': `${head}const t = suite('s');
t.after(() => { throw new Error('boom in after'); });
t.test('passes', () => {});
t.run();
`,
    'case-last-after-each.test.js': `${head}const t = suite('s');
t.afterEach((ctx) => { if (ctx.__test__ === 'second') throw new Error('boom in the last afterEach'); });
t.test('first', () => {});
t.test('second', () => {});
t.run();
`,
    'case-before.test.js': `${head}const t = suite('s');
t.before(() => { throw new Error('boom in before'); });
t.test('passes', () => {});
t.run();
`,
    // The body outlives its 300 ms: it would write a file after 1.5 s, and it started a child
    // process that would too. Before the fix the body kept going and the process only ended
    // once both had written (the child kept the event loop alive).
    'case-timeout.test.js': `${head}const t = suite('s', { timeoutMs: 300 });
t.test('too slow', async () => {
  const child = spawn(process.execPath, ['-e', ${JSON.stringify(childCode)}], { stdio: 'ignore' });
  writeFileSync(${JSON.stringify(dir + '/child.pid')}, String(child.pid));
  await new Promise((r) => setTimeout(r, 1500));
  writeFileSync(${JSON.stringify(dir + '/body-marker')}, 'x');
});
t.run();
`,
  };
}

interface Ran {
  code: number | null;
  out: string;
}

/** Run one file as run.mjs does: detached (the leader of its own process group), with
 *  STRATUM_TEST_OWN_GROUP=1. */
function runFile(path: string): Promise<Ran> {
  return runNode([path], { STRATUM_TEST_OWN_GROUP: '1' });
}

function runNode(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, FORCE_COLOR: '0', ...env } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}

/** Whether `pid` is a live process (a zombie is dead: it only waits to be reaped). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Wait until `pid` is gone (SIGTERM is delivered asynchronously); false if it outlives `ms`. */
async function gone(pid: number, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}

t.test('a throwing after hook fails the file with the hook\'s error', async () => {
  rig.write(cases(rig.dir));
  const r = await runFile(rig.path('case-after.test.js'));
  assert.is.not(r.code, 0, r.out);
  assert.match(r.out, '[rig] HOOK FAILED (so this file fails): after hook of suite "s": boom in after');
});

t.test('a throwing last afterEach fails the file, naming the test it ran after', async () => {
  rig.write(cases(rig.dir));
  const r = await runFile(rig.path('case-last-after-each.test.js'));
  assert.is.not(r.code, 0, r.out);
  assert.match(r.out, 'afterEach hook of suite "s" around test "second": boom in the last afterEach');
});

t.test('a throwing before hook fails the file', async () => {
  rig.write(cases(rig.dir));
  const r = await runFile(rig.path('case-before.test.js'));
  assert.is.not(r.code, 0, r.out);
  assert.match(r.out, 'before hook of suite "s": boom in before');
});

t.test('a timed-out test stops the file: named, non-zero, its body and its child stopped', async () => {
  rig.write(cases(rig.dir));
  const r = await runFile(rig.path('case-timeout.test.js'));
  // The process has ended; had the body gone on, the process would have lived until it wrote.
  assert.not.ok(rig.exists('body-marker'), `the timed-out body kept running:\n${r.out}`);
  const pid = Number(rig.read('child.pid'));
  assert.ok(await gone(pid), `the test's child process ${pid} outlived the timeout`);
  assert.not.ok(rig.exists('child-marker'), 'the child wrote its file before it was stopped');
  assert.is.not(r.code, 0, r.out);
  assert.match(r.out, '[rig] TIMEOUT: test "too slow" of suite "s" did not finish in 300 ms');
});

t.test('test/run.mjs counts every one of them as failed and says why', async () => {
  rig.write(cases(rig.dir));
  rig.write({ 'case-ok.test.js': `import { suite } from ${JSON.stringify(RIG)};\nconst t = suite('s');\nt.test('passes', () => {});\nt.run();\n` });
  const r = await runNode([RUNNER, 'case-'], { STRATUM_TEST_ROOT: rig.dir });
  assert.is(r.code, 1, r.out);
  // Passed tests in failed files still count as passed: after, last-afterEach (2) and ok.
  assert.match(r.out, '\n4 passed, 4 failed\n');
  assert.match(r.out, /^ok {3}case-ok\.test\.js/m);
  assert.match(r.out, /^FAIL case-after\.test\.js .*\n +HOOK FAILED .*after hook of suite "s": boom in after$/m);
  assert.match(r.out, /^FAIL case-last-after-each\.test\.js .*\n +HOOK FAILED .*around test "second"/m);
  assert.match(r.out, /^FAIL case-before\.test\.js .*\n +HOOK FAILED .*before hook/m);
  assert.match(r.out, /^FAIL case-timeout\.test\.js .*\n +TIMEOUT: test "too slow"/m);
});

t.test('test/run.mjs kills a hung file with its whole process group', async () => {
  // No rig here: a file that hangs where no test timeout can reach, with a child process.
  rig.write({
    'hang.test.js': `import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
writeFileSync(${JSON.stringify(rig.path('child.pid'))}, String(child.pid));
setInterval(() => {}, 1000);
`,
  });
  const r = await runNode([RUNNER, 'hang'], { STRATUM_TEST_ROOT: rig.dir, STRATUM_TEST_FILE_TIMEOUT_MS: '1500' });
  assert.is(r.code, 1, r.out);
  assert.match(r.out, /^FAIL hang\.test\.js .*\n +hang\.test\.js exceeded 1500 ms; killed with its process group$/m);
  assert.match(r.out, '\n0 passed, 1 failed\n');
  const pid = Number(rig.read('child.pid'));
  assert.ok(await gone(pid), `the hung file's child ${pid} survived`);
});

t.run();
