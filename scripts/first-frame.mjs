#!/usr/bin/env node
// Time from spawn to the first frame of the Ink UI (`stratum build --progress=tty` under a
// pseudo-terminal made by script(1)), for a cached build. Usage: node scripts/first-frame.mjs CTX STORE [runs]
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
const [ctx, store, runs = '7'] = process.argv.slice(2);
const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const once = () => new Promise((resolve) => {
  const t0 = performance.now();
  let first, ink, done;
  const child = spawn('script', ['-qfec', `${process.execPath} ${cli} build --progress=tty --cache-dir ${store} ${ctx}`, '/dev/null'], { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, COLUMNS: '80', LINES: '24' } });
  child.stdout.on('data', (d) => {
    const text = d.toString();
    if (first === undefined && /stratum build/.test(text)) first = performance.now() - t0;
    // Ink's own frames draw the step table (its rows have `[i/n]`).
    if (ink === undefined && /\[\d+\/\d+\]|ok in/.test(text)) ink = performance.now() - t0;
  });
  child.on('close', () => { done = performance.now() - t0; resolve({ first, ink, done }); });
});
const rows = [];
for (let i = 0; i < Number(runs); i++) rows.push(await once());
const med = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`first line: median ${med(rows.map((r) => r.first)).toFixed(0)} ms; first Ink frame: median ${med(rows.map((r) => r.ink)).toFixed(0)} ms; exit: median ${med(rows.map((r) => r.done)).toFixed(0)} ms (${runs} runs)`);
