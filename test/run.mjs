#!/usr/bin/env node
// Runs every compiled uvu suite (dist/test/**/*.test.js) as its own process, two at a time
// (CI has 2 cores), and ends with the line `N passed, N failed` that CI reads.
// uvu prints "Total / Passed / Skipped" per process; a process that dies before printing
// them (a crash, a test timeout, a hang killed by the file timeout) counts as one failure, and
// so does a non-zero exit with no failed test (a failing `after` hook: see test/util/rig.ts).
// Each file leads its own process group, so that everything it started (CLIs, RUN steps)
// can be ended with it: on the file timeout, and after it exits, whatever is left.
// STRATUM_TEST_ROOT runs the files of another directory (test/rig.test.ts uses it).
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { spawn } from 'node:child_process';

const root = process.env.STRATUM_TEST_ROOT ? resolve(process.env.STRATUM_TEST_ROOT) : new URL('../dist/test/', import.meta.url).pathname;
const filter = process.argv[2];
const FILE_TIMEOUT_MS = Number(process.env.STRATUM_TEST_FILE_TIMEOUT_MS ?? 10 * 60_000);
const JOBS = Number(process.env.STRATUM_TEST_JOBS ?? 2);

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const files = walk(root).filter((f) => !filter || f.includes(filter));
let passed = 0, failed = 0;
const failures = [];
/** Process groups of the files running now, ended if this runner is interrupted. */
const groups = new Set();
const GRACE_MS = 2000;

/** Whether process group `pgid` still has a member. */
function groupAlive(pgid) {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function killGroup(pgid, signal) {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already empty
  }
}

/** End what a finished file left running: SIGTERM (a stratum CLI then ends its own RUN
 *  groups), SIGKILL after a grace period. Returns whether anything was left. */
async function sweep(pgid) {
  if (!groupAlive(pgid)) return false;
  killGroup(pgid, 'SIGTERM');
  const deadline = Date.now() + GRACE_MS;
  while (groupAlive(pgid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  killGroup(pgid, 'SIGKILL');
  return true;
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const g of groups) killGroup(g, 'SIGKILL');
    process.exit(130);
  });
}

function runOne(file) {
  return new Promise((resolve) => {
    const name = relative(root, file);
    const started = Date.now();
    // Ink decides at import time, from CI/CONTINUOUS_INTEGRATION, whether it may redraw; the UI
    // tests render interactively, so test processes run without them (stratum's own reading of
    // CI, in the progress choice, is tested with an explicit env).
    const env = { ...process.env, FORCE_COLOR: '0' };
    delete env.CI;
    delete env.CONTINUOUS_INTEGRATION;
    // The rig ends the group itself when a test times out, if it knows it leads one.
    env.STRATUM_TEST_OWN_GROUP = '1';
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'], env, detached: true });
    const pgid = child.pid;
    groups.add(pgid);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      out += `\n[test/run] ${name} exceeded ${FILE_TIMEOUT_MS} ms; killed with its process group\n`;
      killGroup(pgid, 'SIGKILL');
    }, FILE_TIMEOUT_MS);
    // Sweep on 'exit', not 'close': a leftover process holding the file's stdout open would
    // keep 'close' from ever firing.
    const swept = new Promise((r) => child.on('exit', () => r(sweep(pgid))));
    child.on('close', async (code) => {
      clearTimeout(timer);
      if (await swept) out += `\n[test/run] ${name} left processes running after it exited; ended them\n`;
      groups.delete(pgid);
      const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? NaN);
      const ok = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? NaN);
      const skipped = Number(/Skipped:\s+(\d+)/.exec(out)?.[1] ?? 0);
      let p = 0, f = 0;
      if (Number.isNaN(total) || Number.isNaN(ok)) f = 1;
      else { p = ok; f = total - ok - skipped; if (code !== 0 && f === 0) f = 1; }
      passed += p; failed += f;
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      // Why the rig failed the file (a timed-out test, a failing hook), next to its name.
      const why = f ? [...out.matchAll(/^\[(?:rig|test\/run)\] (.*)$/gm)].map((m) => `\n     ${m[1]}`).slice(0, 3).join('') : '';
      process.stdout.write(`${f ? 'FAIL' : 'ok  '} ${name}  (${p} passed, ${f} failed, ${secs}s)${why}\n`);
      if (f) failures.push({ name, out });
      resolve();
    });
  });
}

const queue = [...files];
await Promise.all(Array.from({ length: Math.min(JOBS, queue.length) }, async () => {
  while (queue.length) await runOne(queue.shift());
}));
for (const { name, out } of failures) {
  process.stdout.write(`\n===== ${name} =====\n${out.slice(-20000)}\n`);
}
process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
process.exitCode = failed || files.length === 0 ? 1 : 0;
