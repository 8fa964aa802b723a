#!/usr/bin/env node
// Runs every compiled uvu suite (dist/test/**/*.test.js) as its own process, two at a time
// (CI has 2 cores), and ends with the line `N passed, N failed` that CI reads.
// uvu prints "Total / Passed / Skipped" per process; a process that dies before printing
// them (a crash, a hang killed by the file timeout) counts as one failure.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawn } from 'node:child_process';

const root = new URL('../dist/test/', import.meta.url).pathname;
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
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => { out += `\n[test/run] ${name} exceeded ${FILE_TIMEOUT_MS} ms; killed\n`; child.kill('SIGKILL'); }, FILE_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? NaN);
      const ok = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? NaN);
      const skipped = Number(/Skipped:\s+(\d+)/.exec(out)?.[1] ?? 0);
      let p = 0, f = 0;
      if (Number.isNaN(total) || Number.isNaN(ok)) f = 1;
      else { p = ok; f = total - ok - skipped; if (code !== 0 && f === 0) f = 1; }
      passed += p; failed += f;
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      process.stdout.write(`${f ? 'FAIL' : 'ok  '} ${name}  (${p} passed, ${f} failed, ${secs}s)\n`);
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
